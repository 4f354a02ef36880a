"""Turn files, folders and URLs into cleaned pages, chunks and embedded store entries."""
