"""`make fonts`: the charts need a font with Chinese glyphs. When matplotlib finds none, install
Debian's fonts-noto-cjk (as root, with apt-get), then rebuild matplotlib's font cache so every
later process sees it at once. Elsewhere, say what to install; the bot runs without it, and
`/stats chart` explains that the server lacks the font.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

PACKAGE = "fonts-noto-cjk"


def found() -> str | None:
    from handlers.charts import cjk_family

    cjk_family.cache_clear()
    return cjk_family()


def main() -> int:
    if found():
        return 0
    if os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"charts: no CJK font; installing {PACKAGE} with apt-get", file=sys.stderr)
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=environment)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", PACKAGE], check=True,
                       env=environment, stdout=subprocess.DEVNULL)
        from matplotlib import font_manager

        font_manager.fontManager = font_manager._load_fontmanager(try_read_cache=False)
        if found():
            return 0
        print(f"charts: {PACKAGE} is installed but matplotlib finds no CJK font in it", file=sys.stderr)
        return 1
    print(f"charts: no CJK font found; install one for /stats chart and the monthly notice's chart "
          f"(Debian/Ubuntu: sudo apt-get install {PACKAGE})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
