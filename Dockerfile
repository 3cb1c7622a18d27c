# One image for both services (api, worker); docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contracts contracts
COPY providers providers
COPY schemas schemas
COPY api api
COPY workflows workflows
COPY activities activities
COPY crm crm
COPY policies policies
COPY pbxhub pbxhub
COPY web web
COPY recordings recordings
RUN pip install --no-cache-dir .
ENV PBXHUB_DATA_DIR=/data
VOLUME /data
EXPOSE 8000
CMD ["pbxhub", "api", "--host", "0.0.0.0"]
