"""The journal on NATS JetStream (issue 12; being built): one stream per journal, frames as
messages, written by one epoch-fenced writer (``publisher``)."""
