#!/usr/bin/python3
"""Bytes written to the slow-disk device, by file (issue 16: "find where the bytes go").

  blk_breakdown.py DEVICE TRACE EXTENTS [--from S] [--to S] [--events N]

TRACE is the ftrace output of the block_bio_queue event for the device (what the filesystem asked
the device to write; seconds on the trace's clock, sectors of 512 bytes); EXTENTS is the
output of `filefrag -v -b4096` taken every second during the run over every file on the
device (so files deleted later, such as SQLite's WAL, are still named). The ext4 journal's blocks
come from debugfs; blocks in no file are ext4's own metadata (inode tables, bitmaps, directories).
"""
import re
import subprocess
import sys


def journal_blocks(device):
    out = subprocess.run(["debugfs", "-R", "stat <8>", device], capture_output=True, text=True).stdout
    spans = []
    # "(0-8191):114689-122880": logical blocks, then the physical ones (a single block: no "-").
    for a, b in re.findall(r"\)\s*:\s*(\d+)(?:-(\d+))?", out.split("EXTENTS:")[-1]):
        spans.append((int(a), int(b or a)))
    return spans


def file_blocks(path):
    spans, name = {}, None
    for line in open(path, errors="replace"):
        m = re.match(r"File size of (\S+) is", line)
        if m:
            name = re.sub(r".*/", "", m.group(1))
            name = re.sub(r"\.\d+$", "", name)  # rotated audit segments: one name
            continue
        m = re.match(r"\s*\d+:\s+\d+\.\.\s*\d+:\s+(\d+)\.\.\s*(\d+):", line)
        if m and name:
            spans.setdefault(name, set()).add((int(m.group(1)), int(m.group(2))))
    return spans


def main():
    args = sys.argv[1:]
    opts = {"--from": 0.0, "--to": float("inf"), "--events": 0}
    pos = []
    i = 0
    while i < len(args):
        if args[i] in opts:
            opts[args[i]] = float(args[i + 1])
            i += 2
        else:
            pos.append(args[i])
            i += 1
    device, trace, extents = pos
    owners = [("ext4 journal", a, b) for a, b in journal_blocks(device)]
    for name, spans in file_blocks(extents).items():
        owners += [(name, a, b) for a, b in spans]
    owners.sort(key=lambda o: o[1])

    def owner(block):
        for name, a, b in owners:
            if a <= block <= b:
                return name
        return "ext4 metadata (inode tables, bitmaps, directories)"

    total, by = 0, {}
    for line in open(trace):
        m = re.search(r" (\d+\.\d+): block_bio_queue: \d+,\d+ (\S+) (\d+) \+ (\d+)", line)
        if not m or "W" not in m.group(2):
            continue
        t, sector, n = float(m.group(1)), int(m.group(3)), int(m.group(4))
        if not (opts["--from"] <= t < opts["--to"]) or n == 0:
            continue
        for blk in range(sector // 8, (sector + n + 7) // 8):
            name = owner(blk)
            by[name] = by.get(name, 0) + 4096
            total += 4096
    ev = opts["--events"]
    print(f"{'written to':<56} {'bytes':>12}" + (f" {'per event':>10}" if ev else ""))
    for name, b in sorted(by.items(), key=lambda kv: -kv[1]):
        print(f"{name:<56} {b:>12}" + (f" {b / ev:>10.0f}" if ev else ""))
    print(f"{'total':<56} {total:>12}" + (f" {total / ev:>10.0f}" if ev else ""))


main()
