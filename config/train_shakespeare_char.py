# A small character-level GPT on Tiny Shakespeare: trains in minutes on one GPU and is
# the usual first check that a setup works (nanoGPT reaches a val loss of about 1.47 here).
# Prepare the data first: python data/shakespeare_char/prepare.py

out_dir = 'runs/shakespeare-char'
eval_interval = 250  # often, because a model this size on 1 MB of text overfits quickly
eval_iters = 200
log_interval = 10

# overfitting is expected, so keep only checkpoints that improve the val loss
always_save_checkpoint = False

dataset = 'shakespeare_char'
gradient_accumulation_steps = 1
batch_size = 64
block_size = 256  # characters of context

# about 10.7M parameters
n_layer = 6
n_head = 6
n_embd = 384
dropout = 0.2

learning_rate = 1e-3  # a network this small tolerates a higher rate than GPT-2
max_iters = 5000
lr_decay_iters = 5000  # usually equal to max_iters
min_lr = 1e-4  # usually learning_rate / 10
beta2 = 0.99  # a little higher than GPT-2's 0.95: few tokens per step make noisy gradients

warmup_iters = 100  # a short warmup is enough at this size
