"""Images from a folder, in sorted file-name order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from edgespeed import Frame, Gray, Node, Output, Param, Stamped

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


class FolderSource(Node):
    """Read every image in a folder, in sorted order, as frames (for offline runs and tests).

    Files are sorted by name (so `img_0001.png` ... come in order; zero-pad your numbers).
    Frame i gets media time i / fps. An image OpenCV cannot read fails the node naming the
    file, unless `skip_unreadable` is set.

    Ports:
        frame (out): HxWx3 uint8 (bgr24 or rgb24), or HxW uint8 for gray.
        name (out): the file's name, sent with each frame (e.g. for snapshot or log names).

    Params:
        path: the folder (required; checked when the graph starts).
        pattern: glob of the files to read, e.g. `*.png` or `**/*.jpg` for subfolders (default
            `*`, keeping only image extensions: jpg, jpeg, png, bmp, tif, tiff, webp, pgm, ppm).
        format: bgr24, rgb24 or gray (default bgr24).
        loop: start again after the last image (default false).
        fps: media time between images is 1 / fps; with `realtime` also the pace (default 30).
        realtime: pace images at `fps`; false reads as fast as the graph takes them (default false).
        skip_unreadable: log and skip files OpenCV cannot decode instead of failing (default false).

    Example:
        ```yaml
        - id: src
          type: image.folder
          params: {path: data/images, pattern: "*.jpg"}
        ```
    """

    kind = "image.folder"
    frame = Output(Frame)
    name = Output(doc="file name of the image")
    path: Path = Param(doc="folder of images", kind="input_folder")
    pattern: str = Param("*", doc="glob of files to read")
    format: Literal["bgr24", "rgb24", "gray"] = Param("bgr24", doc="pixel format of emitted frames")
    loop: bool = Param(False, doc="start again after the last image")
    fps: float = Param(30.0, gt=0, le=10000, doc="images per second of media time")
    realtime: bool = Param(False, doc="pace images at fps")
    skip_unreadable: bool = Param(False, doc="skip files OpenCV cannot decode")

    @classmethod
    def declare_ports(cls, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Output]]:
        if params.get("format") == "gray":
            return cls.inputs, {"frame": Output(Gray), "name": cls.outputs["name"]}
        return cls.inputs, cls.outputs

    def setup(self) -> None:
        import cv2

        self._cv2 = cv2
        if self.path.is_file():
            raise NotADirectoryError(f"image folder '{self.path}' is a file; give the folder of images")
        if not self.path.is_dir():
            raise FileNotFoundError(f"image folder '{self.path}' does not exist")
        self.files = sorted(p for p in self.path.glob(self.pattern) if p.is_file() and p.suffix.lower() in EXTENSIONS)
        if not self.files:
            raise FileNotFoundError(f"no images matching {self.pattern!r} in '{self.path}' (extensions: {', '.join(EXTENSIONS)})")

    def pacing(self) -> float | None:
        return 1.0 if self.realtime else None  # the engine paces from media time

    def generate(self) -> Iterator[Any]:
        cv2 = self._cv2
        flag = cv2.IMREAD_GRAYSCALE if self.format == "gray" else cv2.IMREAD_COLOR
        period_ns = int(1e9 / self.fps)
        i = 0
        while True:
            for path in self.files:
                if self.stopping:
                    return
                img = cv2.imread(str(path), flag)
                if img is None:
                    if not self.skip_unreadable:
                        raise ValueError(f"cannot read image '{path}': not an image OpenCV decodes, or unreadable")
                    self.log.warning("skipping '%s': cannot read it as an image", path)
                    continue
                if self.format == "rgb24":
                    cv2.cvtColor(img, cv2.COLOR_BGR2RGB, dst=img)
                yield Stamped({"frame": img, "name": path.name}, pts_ns=i * period_ns)
                i += 1
            if not self.loop:
                return
