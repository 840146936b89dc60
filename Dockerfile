# ekuscan in a container: `docker compose up` runs the built-in lab and scans it.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY scanner ./scanner
RUN pip install --no-cache-dir . && useradd --create-home ekuscan && mkdir /shared && chown ekuscan /shared
USER ekuscan
WORKDIR /home/ekuscan
ENTRYPOINT ["ekuscan"]
CMD ["--help"]
