"""The old tool's video export re-created small, for benchmarking: Pillow composes each mosaic
frame (tiles resized and pasted, prompt/network labels, progress bar) and saves it as an image
file, then the ffmpeg CLI encodes the files. Reads the same SQLite database as the Rust export.

Usage: python3 video_pillow.py DB OUT.mp4 [--frame-format png|jpg] [--frames N] [--font FONT.ttf]
Prints one JSON line: frames, seconds (compose + write + encode), frames_per_second.
"""

import argparse
import io
import json
import math
import os
import sqlite3
import subprocess
import tempfile
import time

from PIL import Image, ImageDraw, ImageFont

W, H = 3840, 2160


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("out")
    parser.add_argument("--frame-format", choices=["png", "jpg"], default="png")
    parser.add_argument("--frames", type=int, default=0, help="stop after this many (0: all)")
    parser.add_argument("--font", default=os.path.join(os.path.dirname(__file__), "..", "assets", "fonts", "DejaVuSans.ttf"))
    args = parser.parse_args()

    db = sqlite3.connect(args.db)
    runs = db.execute(
        "SELECT id, prompt_index, network_index, seed_index, initial_prompt, network_json FROM run "
        "ORDER BY prompt_index, network_index, seed_index"
    ).fetchall()
    prompts = sorted({r[1] for r in runs})
    networks = sorted({r[2] for r in runs})
    seeds = max(r[3] for r in runs) + 1
    prompt_text = {r[1]: r[4] for r in runs}
    # Like the old tool: prompts as rows, seeds split over rows until the grid is ~16:9.
    spr = seeds // 2 if seeds % 2 == 0 else seeds
    rows_per_prompt = math.ceil(seeds / spr)
    cols = len(networks) * spr
    rows = len(prompts) * rows_per_prompt
    label_h, bar_h = 54, 14
    tile = min(W // cols, (H - label_h - bar_h - len(prompts) * label_h) // rows)
    font = ImageFont.truetype(args.font, int(label_h * 0.7))

    images = {}
    for run_id, *_ in runs:
        images[run_id] = [
            seq for (seq,) in db.execute(
                "SELECT sequence_number FROM invocation WHERE run_id = ? AND output_type = 'image' "
                "ORDER BY sequence_number", (run_id,))
        ]
    frames = max(len(v) for v in images.values())
    if args.frames:
        frames = min(frames, args.frames)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(frames):
            canvas = Image.new("RGB", (W, H), (0, 0, 0))
            draw = ImageDraw.Draw(canvas)
            for run_id, p, n, s, prompt, network_json in runs:
                seqs = images[run_id]
                if not seqs:
                    continue
                seq = seqs[min(k, len(seqs) - 1)]
                (blob,) = db.execute(
                    "SELECT output_image FROM invocation WHERE run_id = ? AND sequence_number = ?",
                    (run_id, seq)).fetchone()
                img = Image.open(io.BytesIO(blob)).convert("RGB").resize((tile, tile))
                row = p * rows_per_prompt + s // spr
                col = n * spr + s % spr
                y = label_h + bar_h + (p + 1) * label_h + row * tile
                canvas.paste(img, (col * tile, y))
                if s == 0:
                    draw.text((col * tile, y - label_h), " → ".join(json.loads(network_json)),
                              font=font, fill=(190, 190, 190))
            for p in prompts:
                draw.text((cols * tile + 10, label_h + bar_h + p * (label_h + rows_per_prompt * tile)),
                          prompt_text[p], font=font, fill=(255, 255, 255))
            draw.text((10, 0), f"image step {k + 1} / {frames}", font=font, fill=(255, 255, 255))
            draw.rectangle([0, label_h, W, label_h + bar_h // 2], fill=(50, 50, 50))
            draw.rectangle([0, label_h, int(W * (k + 1) / frames), label_h + bar_h // 2], fill=(255, 255, 255))
            path = os.path.join(tmp, f"{k:05d}.{args.frame_format}")
            if args.frame_format == "jpg":
                canvas.save(path, quality=95)
            else:
                canvas.save(path)
        composed = time.perf_counter()
        subprocess.run(
            ["ffmpeg", "-y", "-loglevel", "error", "-framerate", "2",
             "-i", os.path.join(tmp, f"%05d.{args.frame_format}"),
             "-c:v", "libx264", "-preset", "medium", "-crf", "22", "-bf", "0",
             "-pix_fmt", "yuv420p", "-movflags", "+faststart", args.out],
            check=True)
    seconds = time.perf_counter() - started
    print(json.dumps({
        "impl": f"pillow+{args.frame_format}+ffmpeg",
        "frames": frames,
        "tile": tile,
        "compose_seconds": composed - started,
        "seconds": seconds,
        "frames_per_second": frames / seconds,
    }))


if __name__ == "__main__":
    main()
