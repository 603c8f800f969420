# The byte layout of the `pipeline` fuzz target's `Script` for seed
# generators (make_pipeline_*_seeds.py): frames as `Op::Raw`, in the layout
# `arbitrary` 1.x reads them from:
#   Script  = mode (u32 LE: 0 SourceIp, 0xffffffff GtpTeid) then, per op,
#             a byte 1 and the op (a byte 0 or the end of the data ends it)
#   Op::Raw = variant u32 LE 0, worker u8, port u8, frame as a Vec<u8>
#   Vec<u8> = per byte: 1 then the byte; then 0.
import os, struct


def script(mode, ops):
    """The Script of `ops`, each (worker, port, frame bytes)."""
    out = bytearray(struct.pack("<I", mode))
    for worker, port, frame in ops:
        out += bytes([1]) + struct.pack("<I", 0) + bytes([worker, port])
        for b in frame:
            out += bytes([1, b])
        out += bytes([0])
    return bytes(out)


def put(root, name, mode, ops):
    """Writes the Script of `ops` as seed `name` under root/pipeline."""
    d = os.path.join(root, "pipeline")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(script(mode, ops))
