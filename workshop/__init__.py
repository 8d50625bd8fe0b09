"""Shared plumbing for the workshop's stages: settings, database, processes and test helpers.

Nothing in here is the lesson. The lesson code (models, claim query, worker) is written out in
full in each stage, so that a diff between two stages reads as one new idea.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
