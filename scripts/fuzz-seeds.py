#!/usr/bin/env python3
"""Writes the generated seed corpus of a model-file fuzz target (see scripts/run-fuzz.sh).

    fuzz-seeds.py <target> <out-dir> <repo-root>

safetensors_fuzz: the first bytes of each real checkpoint (header length, header) plus its data
size, and small complete files cut from those headers (a few tensors of each dtype, offsets rebased).
safetensors_index_fuzz: index files naming the tensors of those checkpoints.
model_config_fuzz: the config.json files of the repository, and the DeepSeek-V4-Flash and -Pro ones.
"""
import json
import os
import struct
import sys

SAFETENSORS = [
    "tests/data/golden/tiny-flash/model/model.safetensors",
    "tests/data/golden/tiny-flash/golden.safetensors",
    "assets/tachyon-demo-v4/model.safetensors",
]
CONFIGS = ["tests/data/golden/tiny-flash/model/config.json", "assets/tachyon-demo-v4/config.json"]
DTYPE_SIZE = {"BF16": 2, "F16": 2, "F32": 4, "I32": 4, "I64": 8, "F8_E4M3": 1, "F8_E8M0": 1, "I8": 1, "U8": 1,
              "BOOL": 1}


def read_header(path):
    with open(path, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = f.read(hlen)
    return hlen, header, os.path.getsize(path) - 8 - hlen


def file_bytes(header, data):
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def small_files(header):
    """A few small tensors of each dtype, as complete files and as header + data size."""
    by_dtype = {}
    for name, v in header.items():
        if name == "__metadata__":
            continue
        b, e = v["data_offsets"]
        if e - b <= 512 and len(by_dtype.setdefault(v["dtype"], [])) < 3:
            by_dtype[v["dtype"]].append((name, v))
    out = []
    for picks in [sum(by_dtype.values(), [])] + list(by_dtype.values()):
        h, off = {"__metadata__": {"format": "pt"}}, 0
        for name, v in picks:
            n = v["data_offsets"][1] - v["data_offsets"][0]
            h[name] = {"dtype": v["dtype"], "shape": v["shape"], "data_offsets": [off, off + n]}
            off += n
        whole = file_bytes(h, bytes(range(256)) * (off // 256) + bytes(off % 256))
        out.append(whole)
        out.append(file_bytes(h, b"") + struct.pack("<Q", off))
    return out


def write(out_dir, name, data):
    with open(os.path.join(out_dir, name), "wb") as f:
        f.write(data)


def safetensors_seeds(root, out_dir):
    for i, rel in enumerate(SAFETENSORS):
        hlen, header, data_size = read_header(os.path.join(root, rel))
        write(out_dir, "real%d" % i, struct.pack("<Q", hlen) + header + struct.pack("<Q", data_size))
        for k, seed in enumerate(small_files(json.loads(header))):
            write(out_dir, "small%d-%02d" % (i, k), seed)


def index_seeds(root, out_dir):
    for i, rel in enumerate(SAFETENSORS):
        _, header, data_size = read_header(os.path.join(root, rel))
        names = [n for n in json.loads(header) if n != "__metadata__"]
        for k, subset in enumerate([names, names[:12]]):
            wmap = {n: "model-%05d-of-00002.safetensors" % (j % 2 + 1) for j, n in enumerate(subset)}
            index = {"metadata": {"total_size": data_size}, "weight_map": wmap}
            write(out_dir, "index%d-%d" % (i, k), json.dumps(index, indent=2).encode())


def config_seeds(root, out_dir):
    for i, rel in enumerate(CONFIGS):
        with open(os.path.join(root, rel), "rb") as f:
            write(out_dir, "config%d" % i, f.read())
    with open(os.path.join(root, CONFIGS[1])) as f:
        base = json.load(f)
    flash = dict(base, hidden_size=4096, num_hidden_layers=43, num_attention_heads=64, head_dim=512,
                 q_lora_rank=1024, o_groups=8, o_lora_rank=1024, index_n_heads=64, index_head_dim=128,
                 index_topk=512, n_routed_experts=256, num_experts_per_tok=6, moe_intermediate_size=2048,
                 num_hash_layers=3, vocab_size=129280, max_position_embeddings=1048576,
                 compress_ratios=[0, 0] + [4 if i % 2 == 0 else 128 for i in range(2, 43)] + [0])
    flash["rope_scaling"] = dict(base["rope_scaling"], original_max_position_embeddings=65536)
    pro = dict(flash, hidden_size=7168, num_hidden_layers=61, num_attention_heads=128, q_lora_rank=1536,
               o_groups=16, index_topk=1024, n_routed_experts=384, moe_intermediate_size=3072,
               routed_scaling_factor=2.5,
               compress_ratios=[128, 128] + [4 if i % 2 == 0 else 128 for i in range(2, 61)] + [0])
    write(out_dir, "v4-flash", json.dumps(flash, indent=2).encode())
    write(out_dir, "v4-pro", json.dumps(pro, indent=2).encode())


def main():
    target, out_dir, root = sys.argv[1:4]
    {"safetensors_fuzz": safetensors_seeds, "safetensors_index_fuzz": index_seeds,
     "model_config_fuzz": config_seeds}[target](root, out_dir)


if __name__ == "__main__":
    main()
