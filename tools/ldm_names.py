"""diffusers parameter names -> the original (LDM / AUTOMATIC1111) single-file names, with their shapes.

Written for tools/make_random_checkpoint.py; the inverse of what diffusers' single-file loader reads
(tests/test_single_file.py checks it against that loader's own converters).
"""
from __future__ import annotations

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
RESNET = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"), ("conv2", "out_layers.3"),
          ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection")]
VAE_ATTN = [("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."), ("to_out.0.", "proj_out.")]
OPENCLIP = [("self_attn.out_proj", "attn.out_proj"), ("layer_norm1", "ln_1"), ("layer_norm2", "ln_2"),
            ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj")]


def unet_prefixes(cfg: dict) -> list[tuple[str, str]]:
    """(diffusers prefix, LDM prefix) pairs, following how LDM numbers its input/output blocks."""
    pairs = [("time_embedding.linear_1.", "time_embed.0."), ("time_embedding.linear_2.", "time_embed.2."),
             ("add_embedding.linear_1.", "label_emb.0.0."), ("add_embedding.linear_2.", "label_emb.0.2."),
             ("conv_in.", "input_blocks.0.0."), ("conv_norm_out.", "out.0."), ("conv_out.", "out.2."),
             ("mid_block.resnets.0.", "middle_block.0."), ("mid_block.attentions.0.", "middle_block.1."),
             ("mid_block.resnets.1.", "middle_block.2.")]
    downs, ups, per = cfg["down_block_types"], cfg["up_block_types"], cfg["layers_per_block"]
    idx = 1
    for i, kind in enumerate(downs):
        for j in range(per):
            pairs.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{idx}.0."))
            if "CrossAttn" in kind:
                pairs.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{idx}.1."))
            idx += 1
        if i < len(downs) - 1:
            pairs.append((f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{idx}.0.op."))
            idx += 1
    idx = 0
    for i, kind in enumerate(ups):
        attn = "CrossAttn" in kind
        for j in range(per + 1):
            pairs.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{idx}.0."))
            if attn:
                pairs.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{idx}.1."))
            if j == per and i < len(ups) - 1:
                # LDM's layer list per output block: resnet, [attention], upsampler.
                pairs.append((f"up_blocks.{i}.upsamplers.0.", f"output_blocks.{idx}.{2 if attn else 1}."))
            idx += 1
    return pairs


def _split(name: str, pairs: list[tuple[str, str]]) -> tuple[str, str, str]:
    """(LDM prefix, rest of the name, diffusers prefix) for the pair whose prefix the name has."""
    for hf, sd in pairs:
        if name.startswith(hf):
            return sd, name[len(hf):], hf
    raise KeyError(f"no LDM name for {name}")


def unet_names(cfg: dict, shapes: dict[str, tuple]) -> dict[str, tuple]:
    pairs = unet_prefixes(cfg)
    out = {}
    for name, shape in shapes.items():
        sd, rest, hf = _split(name, pairs)
        if ".resnets." in hf:
            for a, b in RESNET:
                if rest.startswith(a + "."):
                    rest = b + rest[len(a):]
                    break
        out[UNET_PREFIX + sd + rest] = tuple(shape)
    return out


def vae_names(cfg: dict, shapes: dict[str, tuple]) -> dict[str, tuple]:
    n = len(cfg["block_out_channels"])
    pairs = []
    for i in range(n):
        for j in range(cfg["layers_per_block"]):
            pairs.append((f"encoder.down_blocks.{i}.resnets.{j}.", f"encoder.down.{i}.block.{j}."))
        for j in range(cfg["layers_per_block"] + 1):
            pairs.append((f"decoder.up_blocks.{i}.resnets.{j}.", f"decoder.up.{n - 1 - i}.block.{j}."))
        pairs.append((f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample."))
        pairs.append((f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{n - 1 - i}.upsample."))
    for part in ("encoder", "decoder"):
        pairs += [(f"{part}.mid_block.resnets.{k}.", f"{part}.mid.block_{k + 1}.") for k in range(2)]
        pairs += [(f"{part}.mid_block.attentions.0.", f"{part}.mid.attn_1."), (f"{part}.conv_norm_out.", f"{part}.norm_out.")]
    out = {}
    for name, shape in shapes.items():
        try:
            sd, rest, hf = _split(name, pairs)
            new = sd + rest
        except KeyError:
            new, hf = name, ""     # conv_in, conv_out, quant_conv, post_quant_conv: same names
        shape = tuple(shape)
        if ".resnets." in hf:
            new = new.replace(".conv_shortcut.", ".nin_shortcut.")
        if ".attentions." in hf:
            for a, b in VAE_ATTN:
                new = new.replace(".attn_1." + a, ".attn_1." + b)
            if len(shape) == 2:
                shape = shape + (1, 1)   # LDM's attention projections are 1x1 convolutions
        out[VAE_PREFIX + new] = shape
    return out


def clip_names(prefix: str, shapes: dict[str, tuple]) -> dict[str, tuple]:
    """transformers' CLIPTextModel as LDM keeps it: the HF names under `prefix` + "text_model."."""
    return {prefix + "text_model." + n.removeprefix("text_model."): tuple(s) for n, s in shapes.items()
            if not n.endswith("position_ids")}


def open_clip_names(prefix: str, shapes: dict[str, tuple]) -> dict[str, tuple]:
    """CLIPTextModelWithProjection as OpenCLIP names it: q/k/v stacked into one in_proj, projection transposed."""
    fixed = {"text_model.embeddings.token_embedding.weight": "token_embedding.weight",
             "text_model.embeddings.position_embedding.weight": "positional_embedding",
             "text_model.final_layer_norm.weight": "ln_final.weight",
             "text_model.final_layer_norm.bias": "ln_final.bias", "text_projection.weight": "text_projection"}
    out = {}
    for name, shape in shapes.items():
        shape = tuple(shape)
        if name.endswith("position_ids"):
            continue
        full = name if name.startswith(("text_model.", "text_projection")) else "text_model." + name
        if full in fixed:
            out[prefix + fixed[full]] = shape[::-1] if full == "text_projection.weight" else shape
            continue
        layer = full.removeprefix("text_model.encoder.layers.")
        i, rest = layer.split(".", 1)
        if rest.startswith(("self_attn.k_proj", "self_attn.v_proj")):
            continue
        if rest.startswith("self_attn.q_proj"):
            kind = rest.rsplit(".", 1)[1]
            out[f"{prefix}transformer.resblocks.{i}.attn.in_proj_{kind}"] = (3 * shape[0],) + shape[1:]
            continue
        for a, b in OPENCLIP:
            rest = rest.replace(a, b)
        out[f"{prefix}transformer.resblocks.{i}.{rest}"] = shape
    return out
