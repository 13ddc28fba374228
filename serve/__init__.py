"""serve: the FastAPI serving layer of ticklake.

Read endpoints under ``/v1`` over the lake's silver tables (see :func:`serve.app.create_app`).
"""
