"""A LangChain retriever over the same retrieval the assistant uses."""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever

from qa.assistant import Assistant
from qa.records import Filter


class QARetriever(BaseRetriever):
    """Plug the assistant's hybrid retrieval into a LangChain chain.

    >>> retriever = QARetriever(assistant=Assistant(), k=4, mode="hybrid")
    >>> retriever.invoke("Who was banned in 2025?")[0].metadata["source"]
    """

    assistant: Assistant
    k: int = 5
    mode: str = "hybrid"
    where: Filter | None = None

    model_config = {"arbitrary_types_allowed": True}

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        out = []
        for hit in self.assistant.retrieve(query, k=self.k, mode=self.mode, where=self.where):
            doc = self.assistant.document(hit.chunk.doc)
            out.append(
                LCDocument(
                    page_content=hit.chunk.text,
                    id=hit.chunk.id,
                    metadata={
                        "source": doc.doc,
                        "title": doc.title,
                        "date": doc.date,
                        "start": hit.chunk.start,
                        "end": hit.chunk.end,
                        "score": hit.score,
                        "chunk_id": hit.chunk.id,
                        "kind": doc.kind,  # "text", or "pdf", "html", "docx": start/end count in the extracted text
                        "page": doc.page_range(hit.chunk.start, hit.chunk.end),  # (first, last) for a PDF, else None
                    },
                )
            )
        return out
