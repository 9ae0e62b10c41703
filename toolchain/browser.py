"""``report.html`` in headless Chromium: what a browser lays out, and a screenshot of it.

The report is one static page; whether its stage table, its drawing and its plots reach a
reader is a question for a browser, not for an HTML parser. This module runs Debian's
``chromium`` (``make browser`` installs it; CI does so as root) headless:

* :func:`page_facts` loads a copy of the page with a small probe script appended (the report
  itself carries no script) and returns what the browser laid out: the page height, every
  image with its decoded size, every table's row count, the drawing's node boxes, and the
  vertical position of each section (``--dump-dom`` after the load event);
* :func:`screenshot` saves a PNG of the page at a given width (the full page by default).

The flags keep Chromium off the network (no background networking, component updates, sync
or QUIC: in a closed network their connections are refused and slow the start) and out of
any profile but a temporary one. ``python -m toolchain.browser REPORT.html OUT.png --crop
1500`` writes the small image the docs show (``make report-screenshot``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from hwsim.errors import ConfigError

__all__ = ["CHROMIUM", "FLAGS", "find_chromium", "page_facts", "screenshot", "main"]

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",  # root in CI containers: Chromium's sandbox refuses to start as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)
MAX_HEIGHT = 16384  # Chromium's largest screenshot side
TIMEOUT_S = 120

# Appended to a copy of the page: after the load event (images decoded), the layout facts go
# into a <pre> that --dump-dom prints.
_PROBE = """<script>
window.addEventListener('load', () => {
  const top = el => el ? Math.round(el.getBoundingClientRect().top + window.scrollY) : null;
  const facts = {
    height: document.documentElement.scrollHeight,
    width: document.documentElement.scrollWidth,
    images: [...document.images].map(i => ({id: i.id, complete: i.complete,
      width: i.naturalWidth, height: i.naturalHeight, shown: i.getBoundingClientRect().width})),
    tables: Object.fromEntries([...document.querySelectorAll('table[id]')].map(
      t => [t.id, t.tBodies[0] ? t.tBodies[0].rows.length : 0])),
    drawing_nodes: document.querySelectorAll('#graph-drawing g.node').length,
    drawing_width: (document.querySelector('#graph-drawing') || {getBoundingClientRect: () =>
      ({width: 0})}).getBoundingClientRect().width,
    tops: Object.fromEntries(['stages', 'graph-drawing', 'timings', 'layers'].map(
      k => [k, top(document.getElementById(k))])),
  };
  const pre = document.createElement('pre');
  pre.id = 'spikefold-probe';
  pre.textContent = JSON.stringify(facts);
  document.body.appendChild(pre);
});
</script>"""


def find_chromium(path: str | os.PathLike | None = None) -> Path | None:
    """The Chromium binary: ``path``, else :data:`CHROMIUM`, else ``chromium`` on PATH."""
    for cand in (path, CHROMIUM, shutil.which("chromium")):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return Path(cand)
    return None


def _chromium(path: str | os.PathLike | None) -> Path:
    found = find_chromium(path)
    if found is None:
        raise ConfigError(
            f"no Chromium at {path or CHROMIUM}: install it with `make browser` (as root: "
            "apt-get install -y chromium)"
        )
    return found


def _run(args: list[str], binary: str | os.PathLike | None) -> str:
    exe = _chromium(binary)
    with tempfile.TemporaryDirectory(prefix="spikefold-chromium-") as profile:
        cmd = [str(exe), *FLAGS, f"--user-data-dir={profile}", *args]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise ConfigError(f"Chromium did not finish within {TIMEOUT_S} s: {cmd}") from exc
    if done.returncode != 0:
        raise ConfigError(f"Chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def page_facts(
    html_path: str | os.PathLike, *, width: int = 1280, binary: str | None = None
) -> dict:
    """What Chromium laid out for ``html_path`` at ``width`` px (module docstring)."""
    src = Path(html_path)
    page = src.read_text(encoding="utf-8")
    if "</body>" not in page:
        raise ConfigError(f"{src}: no </body>; not a report page")
    with tempfile.TemporaryDirectory(prefix="spikefold-page-") as tmp:
        probe = Path(tmp) / src.name
        probe.write_text(page.replace("</body>", _PROBE + "</body>", 1), encoding="utf-8")
        dom = _run([f"--window-size={width},1000", "--virtual-time-budget=10000",
                    "--dump-dom", probe.as_uri()], binary)  # fmt: skip
    start = dom.find('<pre id="spikefold-probe">')
    if start < 0:
        raise ConfigError(f"{src}: Chromium rendered the page but the probe never ran")
    body = dom[start + len('<pre id="spikefold-probe">') : dom.index("</pre>", start)]
    return json.loads(body.replace("&quot;", '"').replace("&amp;", "&"))


def screenshot(
    html_path: str | os.PathLike,
    png_path: str | os.PathLike,
    *,
    width: int = 1280,
    height: int | None = None,
    binary: str | None = None,
) -> Path:
    """A PNG of ``html_path`` rendered ``width`` px wide; ``height`` None: the whole page
    (measured by :func:`page_facts`, at most :data:`MAX_HEIGHT`)."""
    if height is None:
        height = page_facts(html_path, width=width, binary=binary)["height"]
    height = max(1, min(int(height), MAX_HEIGHT))
    out = Path(png_path).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    _run([f"--window-size={width},{height}", f"--screenshot={out}",
          Path(html_path).resolve().as_uri()], binary)  # fmt: skip
    if not out.exists():
        raise ConfigError(f"Chromium wrote no screenshot to {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m toolchain.browser", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("html", help="the page (report.html)")
    p.add_argument("png", help="the screenshot to write")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--crop", type=int, help="keep the top CROP px, as a small palette PNG")
    args = p.parse_args(argv)
    out = screenshot(args.html, args.png, width=args.width)
    if args.crop:
        from PIL import Image

        with Image.open(out) as im:
            top = im.crop((0, 0, im.width, min(args.crop, im.height))).convert("RGB")
        top.quantize(colors=128).save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
