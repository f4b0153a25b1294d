"""Hatchling build hook: build the canvas bundle (frontend/) and ship it in the wheel.

The bundle (flowclass/ui/static/dist/) is a build output and gitignored, so
hatchling would leave it out; this hook builds it with npm when it is missing or
older than the frontend sources, and force-includes it in standard wheels.
Editable installs use it in place. Without npm the install still succeeds, with
a warning; the app then refuses to open the canvas and says how to build it.

Set FLOWCLASS_SKIP_FRONTEND=1 to skip the npm steps entirely.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

BUNDLE_FILES = ("index.js", "flowclass-canvas.css")  # keep in sync with flowclass/ui/canvas.py
SOURCES = ("src", "package.json", "package-lock.json", "vite.config.js")


def newest_mtime(paths: list[Path]) -> float:
    """Latest modification time of the given files and of everything under the given folders."""
    times = [0.0]
    for path in paths:
        if path.is_dir():
            times += [p.stat().st_mtime for p in path.rglob("*") if p.is_file()]
        elif path.exists():
            times.append(path.stat().st_mtime)
    return max(times)


class CustomBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        frontend = root / "frontend"
        dist = root / "flowclass" / "ui" / "static" / "dist"
        if os.environ.get("FLOWCLASS_SKIP_FRONTEND") == "1":
            self.app.display_warning("FLOWCLASS_SKIP_FRONTEND=1: not building the canvas bundle.")
        elif frontend.is_dir() and self._is_stale(frontend, dist):
            self._build(frontend)
        if version == "standard" and all((dist / name).is_file() for name in BUNDLE_FILES):
            build_data["force_include"][str(dist)] = "flowclass/ui/static/dist"
        elif version == "standard":
            self.app.display_warning("WARNING: the wheel has no canvas bundle; the FlowClass editor will not start.")

    @staticmethod
    def _is_stale(frontend: Path, dist: Path) -> bool:
        built = [dist / name for name in BUNDLE_FILES]
        if not all(path.is_file() for path in built):
            return True
        return newest_mtime([frontend / s for s in SOURCES]) > min(p.stat().st_mtime for p in built)

    def _build(self, frontend: Path) -> None:
        npm = shutil.which("npm")
        if npm is None:
            self.app.display_warning(
                "WARNING: npm not found, so the FlowClass canvas bundle was not built. The package installs, "
                "but the editor will refuse to start until you run `npm ci && npm run build` in frontend/ "
                "(install Node.js 20+ first) or reinstall with npm available.")
            return
        lock = frontend / "package-lock.json"
        installed = frontend / "node_modules" / ".package-lock.json"  # written by npm after an install
        steps = [[npm, "run", "build"]]
        if not installed.is_file() or installed.stat().st_mtime < lock.stat().st_mtime:
            steps.insert(0, [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"])
        for cmd in steps:
            self.app.display_info(f"FlowClass canvas: {' '.join(cmd[1:])} (in {frontend})")
            result = subprocess.run(cmd, cwd=frontend, check=False)
            if result.returncode != 0:
                raise RuntimeError(
                    f"`npm {' '.join(cmd[1:])}` failed in {frontend} (exit code {result.returncode}). "
                    "Fix the error above, or set FLOWCLASS_SKIP_FRONTEND=1 to install without the canvas.")
