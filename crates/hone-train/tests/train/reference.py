"""The reference numbers in losses.rs, optim.rs and schedule.rs of this test binary, computed
with PyTorch/transformers and TRL's formulas (torch 2.15, transformers 5.24):
    python crates/hone-train/tests/train/reference.py
"""
import torch
import torch.nn.functional as F
from transformers import get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup

pc = torch.tensor([-10.0, -12.5, -7.25, -20.0]); pr = torch.tensor([-11.0, -12.0, -9.5, -18.0])
rc = torch.tensor([-10.5, -12.0, -8.0, -19.0]); rr = torch.tensor([-10.5, -12.5, -9.0, -18.5])
lc = torch.tensor([5.0, 8.0, 3.0, 10.0]); lr_ = torch.tensor([6.0, 7.0, 4.0, 9.0])
beta = 0.1
cr = pc - rc; rrat = pr - rr; logits = cr - rrat
for eps in [0.0, 0.1]:  # TRL DPOTrainer, loss_type="sigmoid", label_smoothing=eps
    print("dpo sigmoid eps", eps, (-F.logsigmoid(beta * logits) * (1 - eps) - F.logsigmoid(-beta * logits) * eps).mean().item())
print("hinge", torch.relu(1 - beta * logits).mean().item())
print("ipo", (((cr / lc - rrat / lr_) - 1 / (2 * beta)) ** 2).mean().item())
ch = beta * cr; rj = beta * rrat
print("rewards chosen", ch.mean().item(), "rejected", rj.mean().item(), "acc", (ch > rj).float().mean().item(), "margin", (ch - rj).mean().item())

c = torch.tensor([1.5, -0.25, 0.75, 2.0]); r = torch.tensor([0.5, 0.25, 1.0, -1.0]); m = torch.tensor([0.5, 0.0, 0.25, 1.0])
print("rm plain", (-F.logsigmoid(c - r)).mean().item())  # TRL RewardTrainer
print("rm margin+center", ((-F.logsigmoid(c - r - m)).mean() + 0.01 * ((c + r) ** 2).mean()).item())

des = torch.tensor([0.5, -0.2, 1.0]); und = torch.tensor([-0.3, 0.4]); kl = torch.tensor([0.2, -0.1, 0.35])
z = kl.mean().clamp(min=0)  # TRL KTOTrainer
cl = 1 - torch.sigmoid(beta * (des - z)); ul = 1 - torch.sigmoid(beta * (z - und))
print("kto", torch.cat([1.0 * cl, 1.0 * ul]).mean().item(), "z", z.item())
print("kto weighted", torch.cat([1.33 * cl, 1.0 * ul]).mean().item())
z2 = torch.tensor([-0.2, -0.1]).mean().clamp(min=0)
print("kto z clamp", torch.cat([1 - torch.sigmoid(beta * (des - z2)), 1 - torch.sigmoid(beta * (z2 - und))]).mean().item())

grads = [torch.tensor([0.1, -0.2, 0.3]), torch.tensor([0.05, 0.0, -0.4]), torch.tensor([-0.3, 0.2, 0.1])]
p = torch.nn.Parameter(torch.tensor([0.5, -1.0, 2.0]))
opt = torch.optim.AdamW([p], lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
for g in grads:
    p.grad = g.clone(); opt.step()
print("adamw", p.data.tolist())
p = torch.nn.Parameter(torch.tensor([0.5, -1.0, 2.0]))
opt = torch.optim.AdamW([p], lr=1e-2, weight_decay=0.0)
for g in grads:
    p.grad = g.clone(); torch.nn.utils.clip_grad_norm_([p], 0.25); opt.step()
print("adamw clip", p.data.tolist())
for name, f in [("linear", get_linear_schedule_with_warmup), ("cosine", get_cosine_schedule_with_warmup)]:
    q = torch.nn.Parameter(torch.zeros(1)); o = torch.optim.SGD([q], lr=1.0); s = f(o, 3, 10)
    vals = []
    for i in range(11):
        vals.append(o.param_groups[0]["lr"]); o.step(); s.step()
    print(name, vals)
