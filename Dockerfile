# The workshop image: every stage, with the pinned dependencies. Compose picks the stage to run
# with `working_dir` and talks to its own PostgreSQL through DATABASE_URL.
FROM python:3.13-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY requirements.lock pyproject.toml ./
RUN pip install -r requirements.lock
COPY . .
RUN pip install --no-deps -e .

# Run as an unprivileged user: a worker needs no root.
RUN useradd --create-home workshop
USER workshop
