"""
Sample text from a trained GPT, nanoGPT style: this project's checkpoints and nanoGPT's alike.

$ python sample.py --out_dir=runs/python-char
$ python sample.py --out_dir=out-shakespeare-char --start="ROMEO:" --num_samples=3 --max_new_tokens=200
$ python sample.py --out_dir=out-shakespeare-char --start=FILE:prompt.txt   # the prompt from a file

Same keys as nanoGPT's sample.py. Only init_from='resume' (out_dir/ckpt.pt) works here: GPT-2
weights would need a download. Text is encoded with the dataset's meta.pkl (character-level
datasets), found at data/<dataset>/meta.pkl beside the current directory or the out_dir,
or given with --meta_path.
"""

import os
import pickle
import sys
from contextlib import nullcontext
from pathlib import Path

import torch

from model import GPT, GPTConfig, load_checkpoint
from nanogpt_dash.configure import ConfigError, config_keys, parse_overrides

# -----------------------------------------------------------------------------
init_from = 'resume'       # 'resume': load out_dir/ckpt.pt
out_dir = 'out'            # the run directory holding ckpt.pt
start = "\n"               # the prompt; "FILE:prompt.txt" reads it from a file
num_samples = 10           # how many samples to draw
max_new_tokens = 500       # tokens generated per sample
temperature = 0.8          # 1.0 = as the model predicts; lower is more conservative
top_k = 200                # sample only among the k most likely tokens (0: all of them)
seed = 1337
device = 'auto'            # 'auto', 'cpu', 'cuda', 'cuda:1', 'mps'
dtype = 'auto'             # 'auto', 'float32', 'bfloat16', 'float16' (16-bit only on CUDA)
compile = False            # torch.compile the model (slow to start; pays off for long samples)
meta_path = ''             # the dataset's meta.pkl, if it is not under data/<dataset>/
# -----------------------------------------------------------------------------
try:
    globals().update(parse_overrides(config_keys(globals()), sys.argv[1:]))
except ConfigError as e:
    sys.exit(f"sample.py: {e}")
# -----------------------------------------------------------------------------

if init_from != 'resume':
    sys.exit(f"sample.py: init_from={init_from!r} is not supported here (GPT-2 weights would need a download); "
             "use --init_from=resume with --out_dir=DIR holding ckpt.pt")
if device == 'auto':
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
device_type = 'cuda' if device.startswith('cuda') else 'cpu'
if dtype == 'auto':
    dtype = ('bfloat16' if torch.cuda.is_bf16_supported() else 'float16') if device_type == 'cuda' else 'float32'
torch.manual_seed(seed)
torch.cuda.manual_seed(seed)
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True
ptdtype = {'float32': torch.float32, 'bfloat16': torch.bfloat16, 'float16': torch.float16}[dtype]
# as in training, 16-bit autocast exists on CUDA only; on the CPU this is a no-op (float32)
ctx = nullcontext() if device_type != 'cuda' else torch.amp.autocast(device_type='cuda', dtype=ptdtype)

# model: the architecture comes from the checkpoint's model_args, the weights from its state dict
ckpt_path = os.path.join(out_dir, 'ckpt.pt')
if not os.path.exists(ckpt_path):
    sys.exit(f"sample.py: no checkpoint at {ckpt_path}; pass --out_dir=DIR where training saved ckpt.pt")
checkpoint = load_checkpoint(ckpt_path, device)  # weights_only=True: a checkpoint cannot run code
model = GPT(GPTConfig(**checkpoint['model_args']))
model.load_state_dict(checkpoint['model'])
model.eval()  # dropout off
model.to(device)
if compile:
    model = torch.compile(model)


def find_meta():
    """The meta.pkl of the dataset the checkpoint was trained on, or None."""
    if meta_path:
        return Path(meta_path)
    dataset = checkpoint.get('config', {}).get('dataset')
    if not dataset:
        return None
    for root in (Path('.'), Path(out_dir).resolve().parent):
        candidate = root / 'data' / dataset / 'meta.pkl'
        if candidate.exists():
            return candidate
    return None


meta_file = find_meta()
if meta_file is None or not meta_file.exists():
    dataset = checkpoint.get('config', {}).get('dataset', '?')
    sys.exit(f"sample.py: no meta.pkl for dataset {dataset!r} (looked in data/{dataset}/ here and beside {out_dir}); "
             "pass --meta_path=PATH/meta.pkl. GPT-2 BPE checkpoints need tiktoken, which this project does not use")
with open(meta_file, 'rb') as f:
    meta = pickle.load(f)
stoi, itos = meta['stoi'], meta['itos']


def encode(s):
    unknown = sorted(set(c for c in s if c not in stoi))
    if unknown:
        sys.exit(f"sample.py: the prompt has characters the model never saw: {''.join(unknown)!r}")
    return [stoi[c] for c in s]


def decode(ids):
    return ''.join(itos[i] for i in ids)


if start.startswith('FILE:'):
    with open(start[5:], 'r', encoding='utf-8') as f:
        start = f.read()
start_ids = encode(start)
x = torch.tensor(start_ids, dtype=torch.long, device=device)[None, ...]  # (1, T)

with torch.no_grad():
    with ctx:
        for k in range(num_samples):
            y = model.generate(x, max_new_tokens, temperature=temperature, top_k=top_k or None)  # (1, T + new)
            print(decode(y[0].tolist()))
            print('---------------')
