"""`python -m bench.profile`: where a saga spends its CPU. py-spy samples the mall's processes under load.

Prints, for each process kind, the functions that hold the most samples (own time, then time inside).
py-spy is not a dependency of the mall: `pip install py-spy` first.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from bench.run import build_world, customers, place_orders
from mall.harness import start


def summarize(raw: Path, top: int) -> list[str]:
    own: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            inside[frame] += n
    lines = [f"  {total} samples; own time:"]
    lines += [f"    {100 * n / total:5.1f}%  {frame[:150]}" for frame, n in own.most_common(top)]
    lines.append("  inside (cumulative), mall code only:")
    ours = [(f, n) for f, n in inside.most_common() if any(p in f for p in ("shared/", "services/", "gateway/"))]
    lines += [f"    {100 * n / total:5.1f}%  {frame[:150]}" for frame, n in ours[:top]]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.profile")
    parser.add_argument("--orders", type=int, default=600)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--embedded", action="store_true")
    args = parser.parse_args()
    if not shutil.which("py-spy") and not (Path(sys.executable).parent / "py-spy").exists():
        print("profile: pip install py-spy first")
        return 2
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    root = Path(tempfile.mkdtemp(prefix="mall-profile-"))
    mode = "embedded" if args.embedded else "servers"
    extra = {"MALL_REPLY_DEADLINE_SECONDS": "30", "MALL_VISIBILITY_TIMEOUT": "60"}
    if mode == "servers":
        extra["MALL_BROKER_URL"] = "redis://127.0.0.1:6379/14"
    mall = start(mode, root, extra=extra, name="bench")
    try:
        skus = build_world(mall, 4)
        tokens = customers(mall, 16)
        time.sleep(2)
        # As the bench does: a first batch warms connections, caches and SQLAlchemy's compiled statements
        # in every process (a fresh unit worker spent a tenth of its samples compiling otherwise).
        place_orders(mall, tokens, skus, 50, 16)
        time.sleep(3)
        targets = {
            "gateway": mall.pids("web --service gateway"),
            "orders worker": mall.pids("worker --service orders"),
            "billing worker": mall.pids("worker --service billing"),
            "unit worker": mall.pids("worker --unit")[:1],
            "logistics worker": mall.pids("worker --service logistics"),
        }
        spies = {}
        for name, pids in targets.items():
            out = root / (name.replace(" ", "-") + ".txt")
            spies[name] = (
                out,
                subprocess.Popen(
                    [
                        spy,
                        "record",
                        "-p",
                        str(pids[0]),
                        "-d",
                        str(args.seconds),
                        "-r",
                        "200",
                        "--gil",
                        "--format",
                        "raw",
                        "-o",
                        str(out),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                ),
            )
        load = threading.Thread(target=place_orders, args=(mall, tokens, skus, args.orders, 16))
        load.start()
        for _, spy_process in spies.values():
            spy_process.wait()
        load.join()
        for name, (out, _) in spies.items():
            print(f"\n== {name}")
            print("\n".join(summarize(out, args.top)) if out.exists() else "  (no samples)")
    finally:
        mall.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
