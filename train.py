"""
Train a GPT, nanoGPT style, and watch it live in the nanogpt_dash dashboard.

On one CPU or GPU:
$ python train.py                                   # small GPT on the offline python_char dataset
$ python train.py config/train_shakespeare_char.py --device=cpu --max_iters=500

With DDP on the GPUs (or CPU processes, via gloo) of one node:
$ torchrun --standalone --nproc_per_node=4 train.py

Configuration is the module-level names below; a config file and then --key=value arguments
override them (unknown keys and wrong types stop the run with a message naming the key).
"""

import gc
import importlib.util
import math
import os
import pickle
import shlex
import signal
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from torch.distributed import destroy_process_group, init_process_group
from torch.nn.parallel import DistributedDataParallel as DDP

import nanogpt_dash
from model import GPT, GPTConfig, load_checkpoint, save_checkpoint
from nanogpt_dash.configure import ConfigError, config_keys, parse_overrides

# -----------------------------------------------------------------------------
# default config: a small GPT that trains on a laptop CPU in minutes
# I/O
out_dir = 'runs/python-char'   # the run directory: ckpt.pt and metrics.sqlite live together here
eval_interval = 250
log_interval = 10              # print every N iterations (the dashboard gets every iteration)
eval_iters = 50
eval_only = False              # evaluate once and exit
always_save_checkpoint = True  # if False, save only when val loss improves
init_from = 'scratch'          # 'scratch' or 'resume' (from out_dir/ckpt.pt)
# dashboard
dashboard = True               # False: no metrics database, no server, nothing but training
dashboard_port = 8050
dashboard_autostart = True      # start a dashboard server if none answers on dashboard_port
run_name = ''                  # shown in the dashboard; defaults to the out_dir's name
# nanoGPT's Weights & Biases keys, accepted so its configs and command lines run unchanged:
# metrics go to the dashboard instead, wandb_run_name names the run there, wandb_project is unused
wandb_log = False
wandb_project = ''
wandb_run_name = ''
sample_tokens = 200            # length of the text sample generated at each eval ('0' to skip)
layer_stats_interval = 50      # every N steps: per-layer activation, gradient and update statistics (0: off)
# data
dataset = 'python_char'        # a directory under data/ holding train.bin, val.bin, meta.pkl
gradient_accumulation_steps = 1  # micro-steps per optimizer step (simulates larger batches)
batch_size = 12                # micro-batch size
block_size = 128
# model
n_layer = 4
n_head = 4
n_embd = 128
dropout = 0.0                  # for pretraining 0 is good, for finetuning try 0.1+
bias = False                   # bias in Linear and LayerNorm layers
# AdamW optimizer
learning_rate = 1e-3
max_iters = 2000
weight_decay = 1e-1
beta1 = 0.9
beta2 = 0.99
grad_clip = 1.0                # clip gradients at this norm, or 0.0 to disable
# learning rate decay
decay_lr = True
warmup_iters = 100
lr_decay_iters = 2000          # should be ~= max_iters per Chinchilla
min_lr = 1e-4                  # should be ~= learning_rate/10 per Chinchilla
# system
backend = 'nccl'               # DDP backend on CUDA; CPU processes always use 'gloo'
device = 'auto'                # 'auto', 'cpu', 'cuda', 'cuda:1', 'mps'
dtype = 'auto'                 # 'auto', 'float32', 'bfloat16', 'float16'
compile = False                # torch.compile the model (faster on GPU, slow to start)
seed = 1337
# -----------------------------------------------------------------------------
try:
    config = parse_overrides(config_keys(globals()), sys.argv[1:])
except ConfigError as e:
    sys.exit(f"train.py: {e}")
globals().update(config)
# -----------------------------------------------------------------------------

# Resolve 'auto' settings once, so the config we record says what actually ran.
if device == 'auto':
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
device_type = 'cuda' if device.startswith('cuda') else ('mps' if device.startswith('mps') else 'cpu')
if dtype == 'auto':
    if device_type == 'cuda':
        dtype = 'bfloat16' if torch.cuda.is_bf16_supported() else 'float16'
    else:
        dtype = 'float32'
if device_type != 'cuda' and dtype != 'float32':
    # As in nanoGPT, 16-bit dtypes only switch on CUDA autocast: elsewhere the autocast context
    # below is a no-op and every tensor stays float32. Say so, and record what actually runs.
    print(f"dtype={dtype!r} has no effect on {device_type} (autocast is CUDA-only here): training in float32")
    dtype = 'float32'
if wandb_log:
    print("wandb_log=True: metrics go to the nanogpt_dash dashboard, not Weights & Biases "
          f"(run name {run_name or wandb_run_name or Path(out_dir).name!r}; wandb_project is unused)")

# DDP: torchrun sets RANK, LOCAL_RANK and WORLD_SIZE for each process it starts.
ddp = int(os.environ.get('RANK', -1)) != -1
if ddp:
    ddp_rank = int(os.environ['RANK'])
    ddp_local_rank = int(os.environ['LOCAL_RANK'])
    ddp_world_size = int(os.environ['WORLD_SIZE'])
    if device_type == 'cuda':
        device = f'cuda:{ddp_local_rank}'
        torch.cuda.set_device(device)
    init_process_group(backend=backend if device_type == 'cuda' else 'gloo')
    master_process = ddp_rank == 0  # this process logs, evaluates and checkpoints
    seed_offset = ddp_rank          # each process sees different batches
    # the global batch stays the same: each of the world_size processes does its share
    if gradient_accumulation_steps % ddp_world_size != 0:
        sys.exit(f"train.py: gradient_accumulation_steps={gradient_accumulation_steps} must be a multiple "
                 f"of the number of processes ({ddp_world_size}); pass --gradient_accumulation_steps="
                 f"{ddp_world_size * max(1, gradient_accumulation_steps // ddp_world_size)}")
    gradient_accumulation_steps //= ddp_world_size
else:
    master_process = True
    seed_offset = 0
    ddp_world_size = 1
config.update(device=device, dtype=dtype)
tokens_per_iter = gradient_accumulation_steps * ddp_world_size * batch_size * block_size
print(f"tokens per iteration will be: {tokens_per_iter:,}")

if master_process:
    os.makedirs(out_dir, exist_ok=True)
torch.manual_seed(seed + seed_offset)
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True
ptdtype = {'float32': torch.float32, 'bfloat16': torch.bfloat16, 'float16': torch.float16}[dtype]
# autocast runs matmuls in 16 bits while keeping reductions (softmax, layernorm) in float32
ctx = nullcontext() if device_type != 'cuda' else torch.amp.autocast(device_type='cuda', dtype=ptdtype)

# -----------------------------------------------------------------------------
# data: a flat array of uint16 token ids per split, memory-mapped


def ensure_dataset(name):
    """Prepare a missing dataset if its prepare.py can do so offline; otherwise say how."""
    data_dir = Path('data') / name
    if (data_dir / 'train.bin').exists():
        return data_dir
    script = data_dir / 'prepare.py'
    if not script.exists():
        known = sorted(p.parent.name for p in Path('data').glob('*/prepare.py'))
        sys.exit(f"train.py: unknown dataset {name!r}: no data/{name}/prepare.py (known: {', '.join(known)})")
    if not master_process:
        # the master prepares; the others wait for it (at most a few seconds for the defaults)
        while not (data_dir / 'meta.pkl').exists():
            time.sleep(0.5)
        return data_dir
    print(f"dataset {name!r} is not prepared yet; running {script}")
    spec = importlib.util.spec_from_file_location(f"prepare_{name}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        module.prepare()
    except Exception as e:  # e.g. no input text and no network: the message says what to do
        sys.exit(f"train.py: cannot prepare dataset {name!r}: {e}")
    return data_dir


data_dir = ensure_dataset(dataset)


def get_batch(split):
    # Recreate the memmap every batch: a long-lived np.memmap keeps growing resident memory.
    data = np.memmap(data_dir / f'{split}.bin', dtype=np.uint16, mode='r')
    ix = torch.randint(len(data) - block_size, (batch_size,))
    x = torch.stack([torch.from_numpy(data[i:i + block_size].astype(np.int64)) for i in ix])  # (B, T)
    y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + block_size].astype(np.int64)) for i in ix])  # (B, T), shifted by one
    if device_type == 'cuda':
        # pinned memory lets the copy to the GPU run asynchronously
        x, y = x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
    else:
        x, y = x.to(device), y.to(device)
    return x, y


with open(data_dir / 'meta.pkl', 'rb') as f:
    meta = pickle.load(f)
meta_vocab_size = meta['vocab_size']
itos = meta.get('itos')
print(f"found vocab_size = {meta_vocab_size} (inside {data_dir / 'meta.pkl'})")

# -----------------------------------------------------------------------------
# model
iter_num = 0
best_val_loss = 1e9
model_args = dict(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size,
                  bias=bias, vocab_size=meta_vocab_size, dropout=dropout)
ckpt_path = os.path.join(out_dir, 'ckpt.pt')
checkpoint = None
if init_from == 'scratch':
    print("Initializing a new model from scratch")
elif init_from == 'resume':
    if not os.path.exists(ckpt_path):
        sys.exit(f"train.py: init_from='resume' but there is no checkpoint at {ckpt_path}; "
                 f"train once with --out_dir={out_dir} first, or use --init_from=scratch")
    print(f"Resuming training from {out_dir}")
    checkpoint = load_checkpoint(ckpt_path, device)
    # the architecture must match the checkpoint; the rest (dropout) may be changed on resume
    for k in ['n_layer', 'n_head', 'n_embd', 'block_size', 'bias', 'vocab_size']:
        model_args[k] = checkpoint['model_args'][k]
    iter_num = checkpoint['iter_num']
    best_val_loss = checkpoint['best_val_loss']
else:
    sys.exit(f"train.py: init_from={init_from!r} is not supported here; use 'scratch' or 'resume' "
             "(GPT-2 weights would need a download, and this trainer works offline)")
model = GPT(GPTConfig(**model_args))
if checkpoint is not None:
    model.load_state_dict(checkpoint['model'])
model.to(device)

# GradScaler only matters for float16, where small gradients would underflow
scaler = torch.amp.GradScaler(device_type, enabled=(dtype == 'float16'))
optimizer = model.configure_optimizers(weight_decay, learning_rate, (beta1, beta2), device_type)
if checkpoint is not None:
    optimizer.load_state_dict(checkpoint['optimizer'])
checkpoint = None  # free memory

if compile:
    print("compiling the model... (takes a ~minute)")
    model = torch.compile(model)
if ddp:
    model = DDP(model, device_ids=[ddp_local_rank] if device_type == 'cuda' else None)
raw_model = model.module if ddp else model

# -----------------------------------------------------------------------------
# dashboard: one tracking run per run directory (only the master process logs)
run = None
dashboard_starting = None  # the thread that announces a dashboard this training started, once it is up
if dashboard and master_process:
    run = nanogpt_dash.init(out_dir, name=run_name or wandb_run_name or None, config=config, model_args=model_args,
                            resume_step=iter_num if init_from == 'resume' else None)
    if dashboard_autostart:
        from nanogpt_dash.launch import ensure_dashboard
        dashboard_starting = ensure_dashboard(Path(out_dir).parent, run.run_id, port=dashboard_port)


# layer dynamics: what each block and weight matrix does as training goes on (master process only;
# DDP has already averaged the gradients, so every process would report the same numbers)
stats = None
if run is not None and layer_stats_interval > 0:
    from nanogpt_dash.layer_stats import LayerStats, log_attention, probe_tokens
    stats = LayerStats(model, layer_stats_interval)
    # the attention probe: the same validation text at every eval, so the maps can be compared over time
    probe_ids = probe_tokens(np.memmap(data_dir / 'val.bin', dtype=np.uint16, mode='r'), block_size)
    probe = torch.from_numpy(probe_ids)[None].to(device)  # (1, T)
    probe_text = [itos[i] if itos is not None else str(i) for i in probe_ids.tolist()]


@torch.no_grad()
def estimate_loss():
    """Mean loss over eval_iters batches of each split (less noisy than one batch)."""
    out = {}
    model.eval()
    for split in ['train', 'val']:
        losses = torch.zeros(eval_iters)
        for k in range(eval_iters):
            X, Y = get_batch(split)
            with ctx:
                _, loss = model(X, Y)
            losses[k] = loss.item()
        out[split] = losses.mean().item()
    model.train()
    return out


@torch.no_grad()
def sample_text():
    """A short continuation of a newline, to read how the model writes at this step."""
    if not sample_tokens or itos is None:
        return None
    model.eval()
    idx = torch.zeros((1, 1), dtype=torch.long, device=device)
    with ctx:
        out = raw_model.generate(idx, sample_tokens, temperature=0.8, top_k=50)
    model.train()
    return ''.join(itos[i] for i in out[0].tolist())


def get_lr(it):
    # 1) linear warmup for warmup_iters steps
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    # 2) past lr_decay_iters, hold at min_lr
    if it > lr_decay_iters:
        return min_lr
    # 3) in between, cosine decay from learning_rate down to min_lr
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))  # goes 1 -> 0
    return min_lr + coeff * (learning_rate - min_lr)


# -----------------------------------------------------------------------------
# Ctrl-C: instead of a traceback, one line saying where training got to and how to resume.
# The run is marked 'interrupted'; a second Ctrl-C while that is written ends the process at once.
last_checkpoint_iter = iter_num if init_from == 'resume' else None


def resume_command():
    """This command line again, pointed at out_dir's checkpoint (same config file and overrides)."""
    kept = [a for a in sys.argv[1:] if not a.startswith(('--init_from=', '--out_dir='))]
    launcher = ['torchrun', '--standalone', f'--nproc_per_node={ddp_world_size}'] if ddp else ['python']
    return shlex.join([*launcher, sys.argv[0], *kept, f'--out_dir={out_dir}', '--init_from=resume'])


def on_ctrl_c(signum, frame):
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # from now on Ctrl-C kills the process outright
    raise KeyboardInterrupt


def report_interrupt(exc_type, exc, tb):
    if not issubclass(exc_type, KeyboardInterrupt):
        return previous_excepthook(exc_type, exc, tb)
    if master_process:
        if last_checkpoint_iter is None:
            print(f"interrupted at step {iter_num}; no checkpoint saved yet (the first comes at step "
                  f"{eval_interval}), so start again with: {shlex.join(['python', *sys.argv])}", flush=True)
        else:
            print(f"interrupted at step {iter_num}; last checkpoint: step {last_checkpoint_iter} in {ckpt_path}; "
                  f"resume with: {resume_command()}", flush=True)
    if run is not None:
        run.finish('interrupted')


previous_excepthook = sys.excepthook  # with the dashboard on, nanogpt_dash's: it marks a crashed run 'crashed'
sys.excepthook = report_interrupt
signal.signal(signal.SIGINT, on_ctrl_c)

# -----------------------------------------------------------------------------
# training loop
X, Y = get_batch('train')  # first batch
local_iter_num = 0         # iterations in this process (the MFU estimate skips the first few)
running_mfu = -1.0
while True:
    lr = get_lr(iter_num) if decay_lr else learning_rate
    for param_group in optimizer.param_groups:
        param_group['lr'] = lr

    if iter_num % eval_interval == 0 and master_process:
        losses = estimate_loss()
        print(f"step {iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
        if run is not None:
            run.log({'train/eval_loss': losses['train'], 'val/loss': losses['val']}, step=iter_num)
            text = sample_text()
            if text is not None:
                run.event('sample', {'text': text}, step=iter_num)
            if stats is not None:
                log_attention(run, stats, probe, probe_text, iter_num, ctx)
        if losses['val'] < best_val_loss or always_save_checkpoint:
            best_val_loss = min(best_val_loss, losses['val'])
            if iter_num > 0:
                print(f"saving checkpoint to {out_dir}")
                save_checkpoint(ckpt_path, raw_model, optimizer, model_args, iter_num, best_val_loss, config)
                last_checkpoint_iter = iter_num
                if run is not None:
                    run.event('checkpoint', {'path': ckpt_path, 'val_loss': losses['val']}, step=iter_num)
    if iter_num == 0 and eval_only:
        break

    t0 = time.time()
    collect = stats is not None and stats.due(iter_num)
    if collect:  # residual stream after each block, measured on the batch this step trains on
        layer_stats = stats.activations(X, ctx)
    # forward/backward with gradient accumulation; the loss is scaled so gradients average
    for micro_step in range(gradient_accumulation_steps):
        if ddp:
            # only sync gradients across processes on the last micro-step
            model.require_backward_grad_sync = (micro_step == gradient_accumulation_steps - 1)
        with ctx:
            logits, loss = model(X, Y)
            loss = loss / gradient_accumulation_steps
        X, Y = get_batch('train')  # prefetch the next batch while the GPU is busy
        scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    if collect:  # per-tensor gradient norms, before clipping, and the weights before the update
        layer_stats.update(stats.gradients())
        stats.before_update()
    # the norm before clipping is what tells you about instability; clip only if asked
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip if grad_clip > 0.0 else float('inf'))
    scaler.step(optimizer)
    if collect:  # |dw|/|w| of one step: around 1e-3 is healthy; far above, the lr is too high for that tensor
        layer_stats.update(stats.after_update())
        run.log(layer_stats, step=iter_num)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)

    t1 = time.time()
    dt = t1 - t0
    if master_process:
        mfu = raw_model.estimate_mfu(batch_size * gradient_accumulation_steps, dt, device=device, dtype=dtype)
        if run is not None:
            # tensors go to the logger unconverted: the writer thread calls .item(), not us
            metrics = {'train/loss': loss.detach() * gradient_accumulation_steps, 'lr': lr,
                       'grad_norm': grad_norm.detach(), 'iter_ms': dt * 1000,
                       'tokens_per_sec': tokens_per_iter / dt}
            if mfu is not None:
                metrics['mfu'] = mfu
            run.log(metrics, step=iter_num)
        if mfu is not None and local_iter_num >= 5:  # let the first iterations settle
            running_mfu = mfu if running_mfu == -1.0 else 0.9 * running_mfu + 0.1 * mfu
        if iter_num % log_interval == 0:
            lossf = loss.item() * gradient_accumulation_steps  # a CPU-GPU sync point
            print(f"iter {iter_num}: loss {lossf:.4f}, time {dt*1000:.2f}ms, mfu {running_mfu*100:.2f}%")
    iter_num += 1
    local_iter_num += 1

    if iter_num > max_iters:
        break

if run is not None:
    run.finish()
    from nanogpt_dash.launch import print_dashboard_still_running
    print_dashboard_still_running(Path(out_dir).parent, run.run_id, port=dashboard_port,
                                  starting=dashboard_starting)
if ddp:
    # every rank tears down together, and the process group goes now, not at interpreter exit: DDP's
    # reducer holds it, and gloo's threads torn down during exit aborted a rank now and then
    # ("terminate called without an active exception", 2 runs in 71 on a busy 2-core machine)
    torch.distributed.barrier()
    del model
    gc.collect()
    destroy_process_group()
