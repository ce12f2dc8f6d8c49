"""A stand-in for karpathy/nanoGPT's train.py: prints its lines, trains nothing.

    python tests/fake_nanogpt.py [--key=value ...]

Keys: out_dir, max_iters, eval_interval, init_from ('scratch' | 'resume'), learning_rate,
sleep (seconds per iteration), exit_code (exit with it after the last iteration).
The "checkpoint" is out_dir/ckpt.txt holding the last saved iter_num. On Ctrl-C it writes
out_dir/got_sigint.<rank> and re-raises, as an uncaught KeyboardInterrupt would end nanoGPT.
"""

import ast
import math
import os
import sys
import time

out_dir = 'out'
max_iters = 20
eval_interval = 10
init_from = 'scratch'
learning_rate = 1e-3
sleep = 0.0
exit_code = 0
wandb_log = False

# under torchrun every rank runs this script; as in nanoGPT only rank 0 prints and saves
master_process = int(os.environ.get('RANK', 0)) == 0
if not master_process:
    sys.stdout = open(os.devnull, 'w')

config_text = """out_dir = 'out'
eval_interval = 10 # keep frequent
wandb_project = 'fake'
"""
print("Overriding config with config/fake.py:")
print(config_text)
for arg in sys.argv[1:]:
    key, _, text = arg[2:].partition('=')
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = text
    print(f"Overriding: {key} = {value}")
    globals()[key] = value

print(f"tokens per iteration will be: {12 * 1024:,}")
print("found vocab_size = 65 (inside data/shakespeare_char/meta.pkl)")
os.makedirs(out_dir, exist_ok=True)
iter_num = 0
if init_from == 'resume':
    print(f"Resuming training from {out_dir}")
    with open(os.path.join(out_dir, 'ckpt.txt')) as f:
        iter_num = int(f.read())
else:
    print("Initializing a new model from scratch")
print("number of parameters: 10.65M")
print("/site-packages/torch/amp/grad_scaler.py:31: UserWarning: an unrelated warning")


def loss_at(step):
    return 4.0 * math.exp(-step / 50.0) + 1.0


try:
    while True:
        if iter_num % eval_interval == 0:
            print(f"step {iter_num}: train loss {loss_at(iter_num):.4f}, val loss {loss_at(iter_num) + 0.1:.4f}")
            if iter_num > 0 and master_process:
                print(f"saving checkpoint to {out_dir}")
                with open(os.path.join(out_dir, 'ckpt.txt'), 'w') as f:
                    f.write(str(iter_num))
        mfu = -100.0 if iter_num < 5 else 12.5
        print(f"iter {iter_num}: loss {loss_at(iter_num) + 0.05:.4f}, time 10.00ms, mfu {mfu:.2f}%")
        time.sleep(sleep)
        iter_num += 1
        if iter_num > max_iters:
            break
except KeyboardInterrupt:
    with open(os.path.join(out_dir, f"got_sigint.{os.environ.get('RANK', 0)}"), 'w') as f:
        f.write(str(iter_num))
    raise
sys.exit(exit_code)
