"""What a llama-cpp-python chat handler would pass to create_completion, captured instead of run."""
from __future__ import annotations


class HandlerCapture:
    """Stands in for the Llama object while the model's own chat handler formats a request.

    The handler renders the chat template, tokenizes and then calls create_completion(); this
    records those arguments instead of generating, so the prompt tokens, stop strings and stop
    criteria are exactly what create_chat_completion would have used, for any chat format.
    """

    def __init__(self, llm):
        self._llm = llm
        self.completion_args: dict | None = None

    def __getattr__(self, name):
        return getattr(self._llm, name)

    def __setattr__(self, name, value):
        # Writes reach the Llama too: the vision handler evaluates the prompt itself and sets n_tokens.
        if name in ("_llm", "completion_args"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._llm, name, value)

    def create_completion(self, **kwargs):
        self.completion_args = kwargs
        return iter(())
