"""Time to window: from launching the app as a user does (``python main.py``, what ``make run`` runs)
to its main window being mapped on an X server, on a cold page cache and a warm one.

Each run starts ``main.py`` on a private Xvfb display (1280x720) with a fresh data folder
(``AGX_DATA_DIR``: no saved geometry, no takes), then polls the X server (``xdotool search
--onlyvisible``, every 20 ms) until the main window — not a splash — is viewable. A cold run first
drops the kernel's page cache (``sync; echo 3 > /proc/sys/vm/drop_caches``, needs root), so Python,
Qt, numpy and the app's files are read from disk again (``fincore`` confirms QtWidgets was evicted).
A second after the window shows, Ctrl+Q is pressed (``xdotool``) and the time to the process's exit
is recorded: a quit while the model is still loading behind the window. One more warm run quits
once the model has loaded (an idle quit).
Writes ``benchmarks/results/startup.md`` and ``startup.json``; heavy, so run it through the queue:

    flock /work/bench.lock nice -n 5 .venv/bin/python benchmarks/bench_startup.py [--runs 5] [--modes cold,warm]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TITLE = "AGX Desktop — text to sound"  # the main window's title starts so (the splash had none)
DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def drop_page_cache() -> None:
    subprocess.run(["sync"], check=True)
    DROP_CACHES.write_text("3\n")


def start_xvfb(display: str) -> subprocess.Popen:
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        if subprocess.run(["xdpyinfo", "-display", display], capture_output=True).returncode == 0:
            return xvfb
        time.sleep(0.05)
    xvfb.kill()
    raise SystemExit(f"Xvfb did not start on {display}")


def window_visible(display: str) -> bool:
    found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", TITLE],
                           capture_output=True, text=True, env={**os.environ, "DISPLAY": display})
    return found.returncode == 0 and bool(found.stdout.strip())


def resident(path: Path) -> str:
    """How much of ``path`` is in the page cache (``fincore``), or '' where fincore is missing."""
    if not shutil.which("fincore"):
        return ""
    done = subprocess.run(["fincore", "--noheadings", "--output", "RES", str(path)], capture_output=True, text=True)
    return done.stdout.strip()


def quit_with_ctrl_q(display: str, app: subprocess.Popen, timeout: float = 30.0) -> float | None:
    """Press Ctrl+Q in the main window as a user does; seconds until the process has exited."""
    env = {**os.environ, "DISPLAY": display}
    wid = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", TITLE], capture_output=True, text=True,
                         env=env).stdout.split()
    if not wid:
        return None
    subprocess.run(["xdotool", "windowfocus", "--sync", wid[0]], env=env, capture_output=True, timeout=10)
    t0 = time.perf_counter()
    subprocess.run(["xdotool", "key", "--window", wid[0], "ctrl+q"], env=env, capture_output=True, timeout=10)
    try:
        app.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    return time.perf_counter() - t0


def one_run(display: str, cold: bool, timeout: float, close_after_ms: int) -> dict:
    """Seconds from launch to the main window mapped, and from Ctrl+Q (``close_after_ms`` later) to exit."""
    probe = ROOT / ".venv" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / \
        "site-packages" / "PySide6" / "Qt" / "lib" / "libQt6Widgets.so.6"
    cached = ""
    if cold:
        drop_page_cache()
        cached = resident(probe)
    data = tempfile.mkdtemp(prefix="agx_startup_")
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "AGX_DATA_DIR": data}
    env.pop("AGX_THREADS", None)
    load_before = loadavg()
    t0 = time.perf_counter()
    log_path = Path(data) / "stderr.txt"
    with open(log_path, "w") as log:  # a file, not a pipe: a full pipe would stall the app
        app = subprocess.Popen([sys.executable, str(ROOT / "main.py")], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=log)
    to_window = None
    while time.perf_counter() - t0 < timeout:
        if window_visible(display):
            to_window = time.perf_counter() - t0
            break
        if app.poll() is not None:
            break
        time.sleep(0.02)
    quit_s = None
    if to_window is not None:
        time.sleep(close_after_ms / 1000)
        quit_s = quit_with_ctrl_q(display, app)
    if app.poll() is None:
        app.kill()
        app.wait()
    err = log_path.read_text(errors="replace").strip().splitlines()
    shutil.rmtree(data, ignore_errors=True)
    return {"cold": cold, "to_window_s": to_window, "quit_s": quit_s, "exit_code": app.returncode,
            "load_before": load_before, "qtwidgets_cached_after_drop": cached, "stderr_tail": err[-3:]}


def summarise(runs: list[dict]) -> str:
    times = [r["to_window_s"] for r in runs if r["to_window_s"] is not None]
    if not times:
        return "no window"
    return (f"median {statistics.median(times):.2f} s, min {min(times):.2f}, max {max(times):.2f} "
            f"(n={len(times)}/{len(runs)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--modes", default="cold,warm", help="cold, warm or both (cold needs root)")
    ap.add_argument("--display", default=":97")
    ap.add_argument("--timeout", type=float, default=90.0)
    ap.add_argument("--close-after-ms", type=int, default=1000, help="Ctrl+Q this long after the window shows")
    ap.add_argument("--idle-quit-ms", type=int, default=20000,
                    help="one more warm run closes this long after showing (model loaded) to time an idle quit")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "startup"))
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if "cold" in modes and not os.access(DROP_CACHES, os.W_OK):
        raise SystemExit("cold runs drop the page cache: run as root (or use --modes warm)")
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    xvfb = start_xvfb(args.display)
    results: dict[str, list[dict]] = {}
    try:
        if "warm" in modes:  # one unmeasured launch fills the cache
            one_run(args.display, False, args.timeout, args.close_after_ms)
        for mode in modes:
            results[mode] = []
            for i in range(args.runs):
                r = one_run(args.display, mode == "cold", args.timeout, args.close_after_ms)
                results[mode].append(r)
                print(f"{mode} {i + 1}: window {r['to_window_s']} s, quit {r['quit_s']} s, load {r['load_before']}",
                      flush=True)
        idle = one_run(args.display, False, args.timeout, args.idle_quit_ms) if args.idle_quit_ms else None
    finally:
        xvfb.terminate()
        xvfb.wait()
    uptime_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"python": sys.version.split()[0], "machine": platform.platform(), "cpus": os.cpu_count(),
            "uptime_before": uptime_before, "uptime_after": uptime_after, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "runs": results, "idle_quit": idle}, indent=1))
    lines = ["# Time to window", "",
             "From launching `python main.py` to its main window mapped on Xvfb (1280x720), fresh data folder;",
             f"cold: page cache dropped before each run. `benchmarks/bench_startup.py`; raw runs in `{out.name}.json`.",
             "",
             f"- {meta['date']}, {meta['cpus']} CPUs, Python {meta['python']}",
             f"- before: `{uptime_before}`", f"- after: `{uptime_after}`", "",
             "| cache | time to window | Ctrl+Q to exit, 1 s after showing (model loading) | load (1 min) per run |", "|---|---|---|---|"]
    for mode, runs in results.items():
        quits = [r["quit_s"] for r in runs if r["quit_s"] is not None]
        quit_text = f"median {statistics.median(quits):.2f} s, max {max(quits):.2f} s" if quits else "—"
        lines.append(f"| {mode} | {summarise(runs)} | {quit_text} | "
                     f"{', '.join(r['load_before'].split()[0] for r in runs)} |")
    lines += ["", "Each run: " + "; ".join(f"{m} " + ", ".join(f"{r['to_window_s']:.2f}" if r["to_window_s"] else "—"
                                                             for r in rs) for m, rs in results.items()), ""]
    if idle is not None and idle["quit_s"] is not None:
        lines += [f"Quit when idle (Ctrl+Q {args.idle_quit_ms / 1000:.0f} s after showing, model loaded): "
                  f"{idle['quit_s']:.2f} s from the key to the process's exit.", ""]
    cached = [r["qtwidgets_cached_after_drop"] for r in results.get("cold", []) if r["qtwidgets_cached_after_drop"]]
    if cached:
        lines += [f"libQt6Widgets in the page cache right after each drop (fincore): {', '.join(cached)}. "
                  "On a virtual machine the host may still cache the disk image: 'cold' is the guest's cache.", ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
