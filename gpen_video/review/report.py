"""The run report for machines: the JSON of a job or a live run (``review.console`` shows people the same runs)."""
from __future__ import annotations

from typing import Any

from ..job import JobResult
from ..live.result import LiveResult
from .provenance import input_record, output_tags, software_versions, weights_record


def restorer_report(backend: str) -> dict[str, Any]:
    """What ran GPEN, and this CPU's measured backend timings when it was ever measured (``cpu_choice``)."""
    from ..restore.cpu_choice import cached_choice

    choice = cached_choice()
    return {"backend": backend, "cpu_choice": choice.as_report() if choice else None}


def build_report(result: JobResult) -> dict[str, Any]:
    """Everything a run did: settings, per-frame faces and tracks, stage timings, metrics, versions, provenance.

    ``metrics`` (see ``metrics.QualityObserver``) are None where the job did not measure quality.
    ``provenance`` names the input and the weights by sha256 (both hashed here, streamed) and the
    tags written into the output. ``face_records`` (every face of every frame) and ``gallery`` are
    there when the job kept them.
    """
    report = run_summary(result)
    report.update({
        "provenance": {
            "input": input_record(result.source),
            "weights": weights_record(result.settings.restore),
            "output_tags": output_tags(result.settings),
        },
        "job": result.options,
        "settings": result.settings.to_dict(),
        "versions": software_versions(),
        "per_frame": result.stats.per_frame,
    })
    if result.gallery is not None:
        report["gallery"] = {"path": str(result.gallery.path), "tracks": len(result.gallery.tracks),
                             "tracks_never_enhanced": result.gallery.skipped_tracks}
    if result.face_records is not None:
        report["face_records"] = result.face_records
    return report


def run_summary(result: JobResult) -> dict[str, Any]:
    """The counts, timings and metrics of a run: what the summary table shows and the report starts with."""
    stats = result.stats
    return {
        "input": result.source,
        "output": result.output,
        "kind": result.kind,
        "seconds": round(result.seconds, 3),
        "frames": stats.frames,
        "faces": stats.faces,
        "tracks": len(stats.track_ids),
        "scene_cuts": stats.scene_cuts,
        "fps": round(stats.frames / result.seconds, 3) if result.seconds else None,
        "stage_seconds": {k: round(v, 4) for k, v in stats.stage_seconds.items()},
        "media": result.media,
        "metrics": result.quality.summary(),
        "restorer": restorer_report(result.backend),
        # What was hidden (``types.RedactionAudit``), None when no face was hidden.
        "redaction": None if stats.redaction is None else stats.redaction.to_dict(),
    }


def _ms(summary: dict | None) -> dict[str, float | None] | None:
    """A latency summary's p50/p95/mean/max in milliseconds (None without frames)."""
    if not summary or "p50" not in summary:
        return None
    return {key: round(summary[key] * 1000, 2) for key in ("p50", "p95", "mean", "max")}


def build_live_report(result: LiveResult) -> dict[str, Any]:
    """What a live run did: frames, drops, latency per output (ms, capture to hand-over), the virtual
    camera, the keys acted on, settings and versions."""
    lat = result.latency
    camera = result.camera
    writer = result.writer
    return {
        "input": result.source,
        "output": result.output,
        "kind": "live",
        "stopped": result.stopped,
        "seconds": round(result.seconds, 3),
        "frames": result.frames,
        "captured": result.captured,
        "dropped": result.dropped,
        "faces": result.stats.faces,
        "fps": round(lat["fps"], 3) if lat.get("fps") else None,
        "reconnects": result.reconnects,
        "losses": result.losses,
        # Capture time to the moment the frame was written and handed to the window.
        "latency_ms": _ms(lat),
        "latency_trend": lat.get("trend"),
        "virtual_camera": None if camera is None else {
            "device": camera.device, "width": camera.width, "height": camera.height, "fps": camera.fps,
            "sent": camera.sent, "fresh": camera.fresh, "held": camera.held, "blank": camera.blank,
            "skipped_ticks": camera.skipped, "replaced": camera.replaced,
            # Capture time to the first hand-over of the frame to the camera.
            "latency_ms": _ms(result.camera_latency),
        },
        "recording": None if writer is None else {"frames": writer.frames, "audio_packets": writer.audio_packets},
        "controls": [{"after_frame": e.frame, "key": e.key, "state": e.state} for e in result.controls],
        "stage_seconds": {k: round(v, 4) for k, v in result.stats.stage_seconds.items()},
        "notes": result.notes,
        "settings": result.settings.to_dict(),
        "versions": software_versions(),
    }
