/**
 * Parsed and validated documents by their text, so a document that thousands of sockets send
 * (a dashboard's subscription) is parsed and validated once, and every operation of it holds the
 * same DocumentNode (what lets their subscriptions share each event's execution:
 * ./shared-subscriptions.ts). Only valid documents are kept, the least recently used leaving first.
 */
import { GraphQLError, parse, validate, type DocumentNode, type GraphQLSchema } from 'graphql';

const MAX_DOCUMENTS = 1000;
/** Documents longer than this are parsed each time rather than kept. */
const MAX_CACHED_LENGTH = 20_000;

export class DocumentCache {
  private readonly documents = new Map<string, DocumentNode>();

  constructor(private readonly schema: GraphQLSchema) {}

  /** The document of `query` when it parses and validates against the schema, else its syntax or validation errors. */
  check(query: string): DocumentNode | readonly GraphQLError[] {
    const cached = this.documents.get(query);
    if (cached) {
      this.documents.delete(query);
      this.documents.set(query, cached);
      return cached;
    }
    let document: DocumentNode;
    try {
      document = parse(query);
    } catch (err) {
      if (err instanceof GraphQLError) return [err];
      throw err;
    }
    const errors = validate(this.schema, document);
    if (errors.length) return errors;
    if (query.length <= MAX_CACHED_LENGTH) {
      if (this.documents.size >= MAX_DOCUMENTS) this.documents.delete(this.documents.keys().next().value!);
      this.documents.set(query, document);
    }
    return document;
  }
}
