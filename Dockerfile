# Helsinki: the API and its fit worker in one container (`helsinki serve`).
FROM python:3.12-slim

# g++ : PyTensor compiles the model's C code at the first fit.
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 helsinki
WORKDIR /app
COPY pyproject.toml README.md ./
COPY models ./models
COPY service ./service
COPY priors ./priors
RUN pip install --no-cache-dir . && chown -R helsinki: /app

USER helsinki
ENV HELSINKI_DATA_DIR=/app/var \
    HELSINKI_PRIORS_DIR=/app/priors \
    PYTENSOR_FLAGS=base_compiledir=/app/var/cache/pytensor \
    PYTHONUNBUFFERED=1
VOLUME ["/app/var"]
EXPOSE 8000
CMD ["helsinki", "serve", "--host", "0.0.0.0"]
