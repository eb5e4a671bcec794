"""A real RTSP server for the tests (GStreamer's gst-rtsp-server), run with the system Python.

    /usr/bin/python3 tests/nodes/video/rtsp_server.py PORT [GRAY]
    /usr/bin/python3 tests/nodes/video/rtsp_server.py PORT record OUT.mkv

Serves `rtsp://127.0.0.1:PORT/cam`: live H.264 160x120 at 15 fps, a moving ball on a gray
background of level GRAY (0-255; default 128), so a test tells one server run from another.
With `record`, it takes a stream published to `rtsp://127.0.0.1:PORT/in` (ANNOUNCE/RECORD, as
FFmpeg's rtsp muxer does) and writes it to OUT.mkv (Matroska: readable even if the server is
killed). Prints `ready` once it listens. It needs python3-gi and gir1.2-gst-rtsp-server-1.0 (and the
GStreamer good/ugly/libav plugins), which are Debian packages for /usr/bin/python3: they are
not pip-installable into the project's virtual environment, hence a subprocess.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

port = int(sys.argv[1])
record = len(sys.argv) > 3 and sys.argv[2] == "record"
gray = int(sys.argv[2]) if len(sys.argv) > 2 and not record else 128
Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(str(port))
factory = GstRtspServer.RTSPMediaFactory()
background = 0xFF000000 | (gray << 16) | (gray << 8) | gray
factory.set_launch(
    f"( videotestsrc is-live=true pattern=ball background-color={background} "
    "! video/x-raw,width=160,height=120,framerate=15/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 "
    "! rtph264pay name=pay0 pt=96 config-interval=1 )"
)
factory.set_shared(True)
server.get_mount_points().add_factory("/cam", factory)
if record:
    sink = GstRtspServer.RTSPMediaFactory()
    sink.set_transport_mode(GstRtspServer.RTSPTransportMode.RECORD)
    sink.set_launch(f"( rtph264depay name=depay0 ! h264parse ! matroskamux ! filesink location={sys.argv[3]} )")
    server.get_mount_points().add_factory("/in", sink)
if server.attach(None) == 0:
    sys.exit(f"cannot listen on 127.0.0.1:{port}")
print("ready", flush=True)
GLib.MainLoop().run()
