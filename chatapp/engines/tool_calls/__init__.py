"""Tool calls in a local model's own words: which form a chat template writes (formats), reading calls from the
reply as it streams (parser), the grammar that keeps a call's arguments to its tool's schema (grammar), and the
forms that are not JSON (gemma: Gemma 4's; qwen_xml: Qwen3.5's and Qwen3-Coder's)."""
