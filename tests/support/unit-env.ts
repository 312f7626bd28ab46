// Unit tests call handlers in-process with the SDK mocked: give config what it reads at import time.
process.env.TABLE_NAME = "sessions-unit";
process.env.JWT_SECRET = "unit-test-secret-unit-test-secret-0123456789";
process.env.AWS_REGION = "us-east-1";
process.env.AWS_ACCESS_KEY_ID = "unit";
process.env.AWS_SECRET_ACCESS_KEY = "unit";
process.env.POWERTOOLS_LOG_LEVEL ??= "SILENT";
