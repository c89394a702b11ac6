"""METEOR 1.5 (Denkowski & Lavie 2014) from the official jar, the way coco-caption runs it.

METEOR aligns words through exact matches, stems, WordNet synonyms and a paraphrase table; it is
not re-implemented here. The jar (`meteor-1.5.jar` and its English paraphrase table) ships inside
the `pycocoevalcap` package; this module only looks up where that package lies on disk (it does
not import it) and talks to the jar over stdin/stdout with coco-caption's protocol:
    SCORE ||| ref 1 ||| ... ||| ref m ||| hypothesis    -> one line of sufficient statistics
    EVAL ||| stats 1 ||| ... ||| stats N                -> N per-image scores, then the corpus score
The corpus score comes from the pooled statistics, not from the mean of the per-image scores.

Without Java or without the package, `meteor_score` returns None (the CLI reports METEOR as
absent); if the jar fails it warns and returns None. It never raises.
"""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

JAR_NAME = "meteor-1.5.jar"
# coco-caption's command: English, normalise punctuation and case, 2 GB heap.
JAVA_ARGS = ["-jar", "-Xmx2G", JAR_NAME, "-", "-", "-stdio", "-l", "en", "-norm"]


def find_jar() -> Path | None:
    """Path of meteor-1.5.jar inside the installed pycocoevalcap package, or None."""
    try:
        spec = importlib.util.find_spec("pycocoevalcap")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        jar = Path(folder) / "meteor" / JAR_NAME
        if jar.is_file():
            return jar
    return None


def unavailable_reason() -> str | None:
    """Why METEOR cannot run here (None when it can)."""
    if shutil.which("java") is None:
        return "no `java` on PATH"
    if find_jar() is None:
        return "pycocoevalcap (which ships the METEOR jar) is not installed"
    return None


def how_to_get() -> str | None:
    """One sentence: why METEOR is n/a here and how to get it (None when it runs)."""
    reason = unavailable_reason()
    if reason is None:
        return None
    return (f"METEOR n/a: {reason}. It needs Java (a JRE, e.g. `apt install default-jre`) and "
            f"the METEOR jar that pycocoevalcap ships (`pip install pycocoevalcap`, or "
            f"`pip install -e \".[meteor]\"`)")


def _clean(sentence: str) -> str:
    # "|||" separates fields in the protocol (coco-caption strips it from hypotheses the same way).
    return sentence.replace("|||", "").replace("  ", " ")


def meteor_score(refs: list[list[list[str]]], hyps: list[list[str]]) -> float | None:
    """Corpus METEOR as a fraction, or None when Java or the jar is missing or the jar fails.
    refs: N lists of token lists; hyps: N token lists."""
    if unavailable_reason() is not None:
        return None
    java, jar = shutil.which("java"), find_jar()
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen([java] + JAVA_ARGS, cwd=jar.parent, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=errors)
        except OSError as e:
            warnings.warn(f"METEOR: could not start java: {e}")
            return None
        try:
            def ask(line: str) -> str:  # one request line, one answer line
                proc.stdin.write((line + "\n").encode("utf-8"))
                proc.stdin.flush()
                answer = proc.stdout.readline().decode("utf-8").strip()
                if not answer:
                    raise RuntimeError("the METEOR jar stopped answering")
                return answer

            stats = [ask(" ||| ".join(["SCORE"] + [_clean(" ".join(s)) for s in r]
                                      + [_clean(" ".join(h))]))
                     for r, h in zip(refs, hyps)]
            ask(" ||| ".join(["EVAL"] + stats))                # the first per-image score
            for _ in range(len(hyps) - 1):                     # the other per-image scores
                proc.stdout.readline()
            return float(proc.stdout.readline().decode("utf-8").strip())
        except (OSError, ValueError, RuntimeError) as e:
            errors.seek(0)
            tail = errors.read().decode("utf-8", "replace").strip().splitlines()[-3:]
            warnings.warn(f"METEOR: the jar failed ({e}); {' / '.join(tail)}")
            return None
        finally:
            if proc.stdin and not proc.stdin.closed:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
            proc.kill()
            proc.wait()
