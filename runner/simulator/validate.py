"""The submit endpoint's parameter checks, as the vendor documents them."""

from __future__ import annotations

from typing import Any

ASPECT_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")
CLARITIES = (1024, 2048, 4096)
MODEL_CODES = ("doubao-seedream-4.0", "doubao-seedream-4.5")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_submit(body: Any) -> str | None:
    """The 40000 message for a bad submit body, or None when it is acceptable."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    prompt = body.get("ref_prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "ref_prompt: required, a non-empty string"
    if body.get("creation_type") != 3 or not _is_int(body.get("creation_type")):
        return "creation_type: must be 3 (image)"
    if body.get("model_code") not in MODEL_CODES:
        return f"model_code: must be one of {', '.join(MODEL_CODES)}"
    refs = body.get("ref_img_url", [])
    if not isinstance(refs, list) or not all(isinstance(u, str) for u in refs):
        return "ref_img_url: must be an array of URL strings"
    for url in refs:
        if not url.startswith(("http://", "https://")):
            return f"ref_img_url: not an http(s) URL: {url[:80]}"
    if body.get("aspect_ratio", "1:1") not in ASPECT_RATIOS:
        return f"aspect_ratio: must be one of {', '.join(ASPECT_RATIOS)}"
    clarity = body.get("clarity", 2048)
    if not _is_int(clarity) or clarity not in CLARITIES:
        return "clarity: must be 1024, 2048 or 4096"
    count = body.get("number_of_images", 1)
    if not _is_int(count) or not 1 <= count <= 4:
        return "number_of_images: must be an integer from 1 to 4"
    return None
