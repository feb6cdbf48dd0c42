#!/usr/bin/env python
"""The pretrained video models videocls fine-tunes, and where their weights come from: a table read off the libraries.

    python bench/pretrained_models.py > bench/results/pretrained_models.md

For each of torchvision's video models: the file its Kinetics-400 weights download to (pass it as `--weights`), their
Kinetics-400 top-1 and size as torchvision's own weights entry states them, and the preset videocls reads from that entry
(`video_preset`). For Hugging Face's: the hub checkpoint `pretrained=True` downloads (`hf download ID --local-dir DIR`,
then `--weights DIR`); their presets are read from the checkpoint folder. Nothing is downloaded or measured here.
"""
import warnings
warnings.filterwarnings('ignore')
from torchvision.models import get_model_weights

from videocls.models import tv_video_names, hf_families, video_preset

def main():
    print("| torchvision model | weights file (`--weights`) | Kinetics-400 top-1 (torchvision) | parameters | GFLOPs per clip | "
          "preset: frames x size, stats (mean) |")
    print('|---|---|---|---|---|---|')
    for name in tv_video_names:
        w = get_model_weights(name).DEFAULT
        p = video_preset(name)
        m = w.meta
        print(f"| `{name}` | [`{w.url.rsplit('/', 1)[1]}`]({w.url}) | {m['_metrics']['Kinetics-400']['acc@1']:.1f}% | "
              f"{m['num_params'] / 1e6:.1f} M | {m['_ops']:.0f} | {p.seq_len} x {p.image_size}, "
              f"({', '.join(f'{v:.3g}' for v in p.stats[0])}){' (exactly)' if p.fixed else ''} |")
    print('\n| Hugging Face model (`--models`) | hub checkpoint (`pretrained=True`; `hf download ID --local-dir DIR`) | transformers class | other frames or sizes |')
    print('|---|---|---|---|')
    rules = dict(grid='position table interpolated (trilinear, by videocls)', library='embeddings interpolated by transformers (nearest)',
                 fixed='refused')
    for name, f in hf_families.items():
        print(f"| `{name}` | [`{f.hub_id}`](https://huggingface.co/{f.hub_id}) | `{f.cls}` | {rules[f.resize]} |")

if __name__ == '__main__': main()
