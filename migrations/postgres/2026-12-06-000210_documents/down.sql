DROP TABLE documents;
DROP TABLE document_sequences;
