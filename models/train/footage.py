"""Fine-tune a converted SPAN model for camcorder-like degradation (blur + noise + JPEG).

The ONNX graph our converter wrote stays as it is: the script runs it in PyTorch (the
few operators SPAN uses), trains its convolution weights and writes them back into a
copy of the graph, so the result loads, tiles and runs bf16 exactly like the original.

    python models/train/footage.py --base BASE.onnx --images DIR --out OUT.onnx

It runs on the CPU or, where PyTorch sees one, a CUDA GPU; `--workers` degrade the
training patches in parallel, `--minutes` gives a run a fixed length (the learning-rate
schedule follows the clock), `--blend-with` trains the network as the own part of the
catalog blend and `--gan` adds an adversarial loss. Training photos, degradations and
the runs that made the shipped weights are described in MODELS.md; none of the photos or
frames of docs/QUALITY.md is used.
"""

import argparse
import io
import math
import os
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from PIL import Image, ImageFilter


class OnnxGraph(torch.nn.Module):
    """The handful of ONNX operators a converted SPAN graph uses, with the
    convolution weights as parameters named after their initializers."""

    OPS = {"Sub", "Mul", "Add", "Conv", "Sigmoid", "Concat"}

    def __init__(self, model):
        super().__init__()
        self.nodes = list(model.graph.node)
        unknown = {n.op_type for n in self.nodes} - self.OPS
        if unknown:
            raise SystemExit(f"unsupported operators {sorted(unknown)}: expected only {sorted(self.OPS)}")
        conv_inputs = {i for n in self.nodes if n.op_type == "Conv" for i in n.input[1:]}
        self.trained = torch.nn.ParameterDict()
        self.consts = {}
        for t in model.graph.initializer:
            value = torch.from_numpy(numpy_helper.to_array(t).astype(np.float32).copy())
            if t.name in conv_inputs:
                self.trained[t.name] = torch.nn.Parameter(value)
            else:
                self.consts[t.name] = value
        self.attrs = [{at.name: onnx.helper.get_attribute_value(at) for at in n.attribute} for n in self.nodes]
        self.input = model.graph.input[0].name
        self.output = model.graph.output[0].name

    def to(self, device):
        self.consts = {k: v.to(device) for k, v in self.consts.items()}
        return super().to(device)

    def value(self, env, name):
        if name in self.trained:
            return self.trained[name]
        return self.consts[name] if name in self.consts else env[name]

    def forward(self, x):
        env = {self.input: x}
        for n, attrs in zip(self.nodes, self.attrs):
            a = [self.value(env, i) for i in n.input]
            if n.op_type == "Sub":
                y = a[0] - a[1]
            elif n.op_type == "Mul":
                y = a[0] * a[1]
            elif n.op_type == "Add":
                y = a[0] + a[1]
            elif n.op_type == "Sigmoid":
                y = torch.sigmoid(a[0])
            elif n.op_type == "Concat":
                y = torch.cat(a, dim=attrs.get("axis", 1))
            else:
                pads = attrs.get("pads", [0, 0, 0, 0])
                if pads[0] != pads[2] or pads[1] != pads[3]:
                    raise SystemExit(f"{n.name}: asymmetric pads {pads}")
                y = F.conv2d(a[0], a[1], a[2] if len(a) > 2 else None,
                             stride=attrs.get("strides", [1, 1]), padding=(pads[0], pads[1]),
                             groups=attrs.get("group", 1))
            env[n.output[0]] = y
        return env[self.output]


def load_photos(folder, long_side):
    """Every image in `folder` as RGB uint8, downscaled (antialiased) so that its long side
    is at most `long_side`: that takes the wallpapers' own JPEG noise below one pixel."""
    photos = []
    for name in sorted(os.listdir(folder)):
        im = Image.open(os.path.join(folder, name)).convert("RGB")
        f = long_side / max(im.size)
        if f < 1:
            im = im.resize((round(im.width * f), round(im.height * f)), Image.BICUBIC)
        photos.append((name, np.asarray(im)))
    return photos


def degrade(hr, scale, rng, clean):
    """A camcorder-like low-resolution image from a clean patch: bicubic down, Gaussian
    blur, Gaussian noise, 8-bit rounding, JPEG; every strength drawn from a range. A
    `clean` share of the patches gets only the bicubic step and at most a light JPEG,
    so that the model keeps the detail of footage that is not degraded."""
    im = Image.fromarray(hr)
    im = im.resize((hr.shape[1] // scale, hr.shape[0] // scale), Image.BICUBIC)
    if rng.random() < clean:
        quality = int(rng.integers(85, 96)) if rng.random() < 0.5 else None
        return jpeg(np.asarray(im), quality, 0) if quality else np.asarray(im)
    if rng.random() < 0.9:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.6)))
    lr = np.asarray(im).astype(np.float32)
    if rng.random() < 0.85:
        sigma = rng.uniform(1.0, 10.0)
        if rng.random() < 0.3:
            lr = lr + rng.normal(0, sigma, lr.shape[:2])[..., None]
        else:
            lr = lr + rng.normal(0, sigma, lr.shape)
    lr = np.clip(np.rint(lr), 0, 255).astype(np.uint8)
    if rng.random() < 0.9:
        lr = jpeg(lr, int(rng.integers(35, 91)), int(rng.integers(0, 3)))
    return lr


def jpeg(rgb, quality, subsampling):
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality, subsampling=subsampling)
    return np.asarray(Image.open(buf).convert("RGB"))


def batch(photos, n, patch, scale, rng, clean):
    lrs, hrs = [], []
    for _ in range(n):
        img = photos[rng.integers(len(photos))][1]
        y = rng.integers(0, img.shape[0] - patch + 1)
        x = rng.integers(0, img.shape[1] - patch + 1)
        hr = img[y:y + patch, x:x + patch]
        hr = np.rot90(hr, rng.integers(4))
        if rng.random() < 0.5:
            hr = hr[:, ::-1]
        hr = np.ascontiguousarray(hr)
        lrs.append(degrade(hr, scale, rng, clean))
        hrs.append(hr)
    to = lambda a: torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).float() / 255
    return to(lrs), to(hrs)


class Batches(torch.utils.data.IterableDataset):
    """Endless training batches; each loader worker draws from its own seed, so the
    degradation (the slow part on a GPU) runs in parallel."""

    def __init__(self, photos, n, patch, scale, seed, clean):
        self.args = (photos, n, patch, scale, seed, clean)

    def __iter__(self):
        photos, n, patch, scale, seed, clean = self.args
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([seed, info.id if info else 0])
        while True:
            yield batch(photos, n, patch, scale, rng, clean)


class Discriminator(torch.nn.Module):
    """A per-pixel real/fake critic for the adversarial loss, trained from scratch with
    the network: a small U-Net with spectral norm (the shape Real-ESRGAN's discriminator
    has), so it judges texture at several scales without a pretrained feature network."""

    def __init__(self, ch=64):
        super().__init__()
        sn = torch.nn.utils.spectral_norm
        self.inp = torch.nn.Conv2d(3, ch, 3, padding=1)
        self.down = torch.nn.ModuleList(
            sn(torch.nn.Conv2d(ch * 2 ** i, ch * 2 ** (i + 1), 4, 2, 1, bias=False)) for i in range(3))
        self.up = torch.nn.ModuleList(
            sn(torch.nn.Conv2d(ch * 2 ** (i + 1), ch * 2 ** i, 3, padding=1, bias=False)) for i in reversed(range(3)))
        self.out = torch.nn.Sequential(
            sn(torch.nn.Conv2d(ch, ch, 3, padding=1, bias=False)), torch.nn.LeakyReLU(0.2),
            torch.nn.Conv2d(ch, 1, 3, padding=1))

    def forward(self, x):
        act = lambda t: F.leaky_relu(t, 0.2)
        skips = [act(self.inp(x))]
        for conv in self.down:
            skips.append(act(conv(skips[-1])))
        y = skips.pop()
        for conv in self.up:
            y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
            y = act(conv(y)) + skips.pop()
        return self.out(y)


def upscale(model, lr, scale):
    return F.pixel_shuffle(model(lr), scale)


def gaussian_taps(sigma, radius):
    """A normalised Gaussian of `sigma` over -radius ..= radius."""
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-x * x / (2 * sigma * sigma))
    return g / g.sum()


def local_sd(rgb):
    """Local standard deviation of luma (Gaussian window, sigma 1.5): the contrast that
    film grain and fine texture carry, which a pixel loss lets a model smooth away."""
    y = (rgb * torch.tensor([0.299, 0.587, 0.114], device=rgb.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    g = gaussian_taps(1.5, 3).to(rgb.device).view(1, 1, 1, 7)
    blur = lambda t: F.conv2d(F.conv2d(F.pad(t, (3, 3, 3, 3), mode="reflect"), g), g.transpose(2, 3))
    mean = blur(y)
    return (blur(y * y) - mean * mean).clamp_min(0).add(1e-6).sqrt()


class BlendPart:
    """The catalog blend around the trained network (models/src/blend.rs): the other
    model, frozen, on the input halved (antialiased Catmull-Rom), mixed per band as
    `other + (1 - w) d + (w - w_low) gauss(d)` with `d = own - other`, so the loss sees
    what the blend ships."""

    def __init__(self, path, weight, sigma, low_weight):
        graph = onnx.load(path)
        meta = {m.key: m.value for m in graph.metadata_props}
        self.scale = int(meta["aiupscale.scale"])
        self.model = OnnxGraph(graph)
        for t in self.model.parameters():
            t.requires_grad_(False)
        self.weight, self.low_weight = weight, low_weight
        # models/src/blend.rs's radius: ceil(3 sigma).
        self.taps = gaussian_taps(sigma, math.ceil(3 * sigma)).view(1, 1, 1, -1).repeat(3, 1, 1, 1)

    def to(self, device):
        self.model.to(device)
        self.taps = self.taps.to(device)
        return self

    def gauss(self, t):
        r = self.taps.shape[-1] // 2
        t = F.conv2d(F.pad(t, (r, r, 0, 0), mode="replicate"), self.taps, groups=3)
        return F.conv2d(F.pad(t, (0, 0, r, r), mode="replicate"), self.taps.transpose(2, 3), groups=3)

    def other(self, lr):
        with torch.no_grad():
            half = F.interpolate(lr, scale_factor=0.5, mode="bicubic", antialias=True, align_corners=False)
            return upscale(self.model, half, self.scale)

    def mix(self, own, other):
        # Both parts clipped to [0, 1], as the catalog graph does.
        own, other = own.clamp(0, 1), other.clamp(0, 1)
        d = own - other
        return other + (1 - self.weight) * d + (self.weight - self.low_weight) * self.gauss(d)


def catalog_blend(name):
    with open(Path(__file__).resolve().parents[1] / "catalog.toml", "rb") as f:
        return next(m["blend"] for m in tomllib.load(f)["model"] if m["name"] == name)


def psnr_y(a, b, border):
    w = torch.tensor([65.481, 128.553, 24.966], device=a.device).view(1, 3, 1, 1)
    ya, yb = (a.clamp(0, 1) * w).sum(1), (b * w).sum(1)
    d = (ya - yb)[:, border:-border, border:-border]
    return (10 * torch.log10(255.0 ** 2 / d.pow(2).mean((1, 2)))).mean().item()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", required=True, help="converted SPAN ONNX to start from")
    p.add_argument("--origin", help="the catalog model the weights are a delta to (default: --base)")
    p.add_argument("--images", required=True, help="folder of clean training photos")
    p.add_argument("--out", required=True)
    p.add_argument("--name", required=True, help="catalog name written into the metadata")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patch", type=int, default=128, help="high-resolution patch side")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--long-side", type=int, default=1280)
    p.add_argument("--holdout", default="", help="comma-separated photo names kept for validation")
    p.add_argument("--clean", type=float, default=0.2, help="share of patches left undegraded")
    p.add_argument("--texture", type=float, default=0.0, help="weight of the local-contrast loss")
    p.add_argument("--stop-after", type=int, default=0, help="stop (and write OUT) after this step")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--blend-with", help="train the network as the own part of a catalog blend: "
                   "the other part's converted ONNX (run on the input halved)")
    recipe = catalog_blend("span-footage-blend-x2")
    p.add_argument("--blend-weight", type=float, default=recipe["weight"],
                   help="the other part's share above the Gaussian (default: the catalog's)")
    p.add_argument("--sigma", type=float, default=recipe["bands"]["sigma"],
                   help="the band split's Gaussian, output pixels (default: the catalog's)")
    p.add_argument("--low-weight", type=float, default=recipe["bands"]["low_weight"],
                   help="the other part's share below the Gaussian (default: the catalog's)")
    p.add_argument("--save-every", type=int, default=0, help="also write OUT.stepN every N steps")
    p.add_argument("--gan", type=float, default=0.0,
                   help="weight of the adversarial loss (a discriminator trained alongside; 0: none)")
    p.add_argument("--minutes", type=float, default=0.0,
                   help="train for this long instead of --steps steps (the schedule follows the clock)")
    p.add_argument("--snapshots", type=int, default=0,
                   help="also write OUT.partK at K/N of the run (of --steps, or of --minutes)")
    p.add_argument("--workers", type=int, default=0, help="processes that make the training batches")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    # Here, not after the training: a missing folder would lose the run.
    Path(args.out).resolve().parent.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(args.seed)
    base = onnx.load(args.base)
    origin = onnx.load(args.origin or args.base)
    meta = {m.key: m.value for m in base.metadata_props}
    scale = int(meta["aiupscale.scale"])
    if meta.get("aiupscale.output") != "phases":
        raise SystemExit(f"{args.base}: expected a phase-layout output, found {meta.get('aiupscale.output')}")
    model = OnnxGraph(base)

    photos = load_photos(args.images, args.long_side)
    held = set(filter(None, args.holdout.split(",")))
    train = [p for p in photos if p[0] not in held]
    val = [p for p in photos if p[0] in held]
    print(f"{len(train)} training photos, {len(val)} held out, scale {scale}", flush=True)
    vrng = np.random.default_rng(12345)
    val_batch = batch(val or train, 32, args.patch, scale, vrng, args.clean)

    blend = BlendPart(args.blend_with, args.blend_weight, args.sigma, args.low_weight) if args.blend_with else None
    if blend and blend.scale != 2 * scale:
        raise SystemExit(f"{args.blend_with}: scale {blend.scale}, expected {2 * scale} (it runs on the input halved)")

    dev = torch.device(args.device)
    model.to(dev)
    if blend:
        blend.to(dev)
    val_batch = tuple(t.to(dev) for t in val_batch)
    loader = iter(torch.utils.data.DataLoader(
        Batches(train, args.batch, args.patch, scale, args.seed, args.clean),
        batch_size=None, num_workers=args.workers, pin_memory=dev.type == "cuda"))

    def forward(lr):
        out = upscale(model, lr, scale)
        return blend.mix(out, blend.other(lr)) if blend else out

    def validate():
        with torch.no_grad():
            lr, hr = val_batch
            return psnr_y(forward(lr), hr, scale)

    t0 = time.time()
    # The share of the run done: steps, or the clock under --minutes.
    done = lambda s: min(s / args.steps, 1.0) if not args.minutes else min((time.time() - t0) / (60 * args.minutes), 1.0)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * done(s))))
    if args.gan:
        disc = Discriminator().to(dev)
        dopt = torch.optim.Adam(disc.parameters(), lr=1e-4, betas=(0.9, 0.99))
        bce = torch.nn.BCEWithLogitsLoss()
    print(f"step 0 val PSNR-Y {validate():.3f} dB", flush=True)
    t0, step, parts_written = time.time(), 0, 0
    while done(step) < 1.0:
        step += 1
        lr, hr = (t.to(dev, non_blocking=True) for t in next(loader))
        out = forward(lr)
        loss = l1 = (out - hr).abs().mean()
        if args.texture:
            loss = loss + args.texture * (local_sd(out) - local_sd(hr)).abs().mean()
        if args.gan:
            for t in disc.parameters():
                t.requires_grad_(False)
            fake = disc(out)
            loss = loss + args.gan * bce(fake, torch.ones_like(fake))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if args.gan:
            for t in disc.parameters():
                t.requires_grad_(True)
            real, fake = disc(hr), disc(out.detach().clamp(0, 1))
            dloss = bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))
            dopt.zero_grad(set_to_none=True)
            dloss.backward()
            dopt.step()
        if step % 100 == 0:
            extra = f" critic {dloss.item():.3f}" if args.gan else ""
            print(f"step {step} L1 {l1.item():.5f}{extra} val PSNR-Y {validate():.3f} dB "
                  f"{(time.time() - t0) / step:.3f} s/step", flush=True)
        if step == args.stop_after:
            break
        if args.save_every and step % args.save_every == 0 and step < args.steps:
            save(base, origin, meta, model, args.name, f"{args.out}.step{step}")
        next_part = (parts_written + 1) / args.snapshots if args.snapshots else 1.0
        if next_part < 1.0 and done(step) >= next_part:
            parts_written += 1
            save(base, origin, meta, model, args.name, f"{args.out}.part{parts_written}")

    print(f"step {step} val PSNR-Y {validate():.3f} dB", flush=True)
    save(base, origin, meta, model, args.name, args.out)


def save(base, origin, meta, model, name, out):
    """Writes the trained weights into a copy of the base graph, atomically."""
    for t in base.graph.initializer:
        if t.name in model.trained:
            t.CopyFrom(numpy_helper.from_array(model.trained[t.name].detach().cpu().numpy(), t.name))
    meta = dict(meta, **{"aiupscale.source": name})
    del base.metadata_props[:]
    for k, v in meta.items():
        base.metadata_props.add(key=k, value=v)
    tmp = out + ".tmp"
    onnx.save(base, tmp)
    os.replace(tmp, out)
    # What the catalog's `finetune` ships (models/src/finetune.rs): every Conv's weight,
    # then bias, in graph order, minus the original's, little-endian f32.
    tuned = {t.name: numpy_helper.to_array(t) for t in base.graph.initializer}
    orig = {t.name: numpy_helper.to_array(t) for t in origin.graph.initializer}
    blob = b"".join((tuned[i].astype(np.float32) - orig[i].astype(np.float32)).astype("<f4").tobytes()
                    for n in base.graph.node if n.op_type == "Conv" for i in n.input[1:])
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, (out[:-len(".onnx")] if out.endswith(".onnx") else out) + ".f32")
    print(f"wrote {out} and its .f32", flush=True)


if __name__ == "__main__":
    sys.exit(main())
