-- AlterTable
ALTER TABLE "projects" ADD COLUMN     "index_chunks" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "index_files" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "index_run_id" TEXT,
ADD COLUMN     "index_stats" JSONB,
ADD COLUMN     "index_status" TEXT NOT NULL DEFAULT 'idle',
ADD COLUMN     "index_symbols" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "indexed_at" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "project_files" (
    "id" TEXT NOT NULL,
    "project_id" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "language" TEXT,
    "content_hash" TEXT NOT NULL,
    "size_bytes" INTEGER NOT NULL,
    "line_count" INTEGER NOT NULL,
    "indexed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "project_files_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "project_chunks" (
    "id" TEXT NOT NULL,
    "project_id" TEXT NOT NULL,
    "file_id" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "start_line" INTEGER NOT NULL,
    "end_line" INTEGER NOT NULL,
    "content" TEXT NOT NULL,
    "terms" TEXT NOT NULL,
    -- Generated from the identifier-split terms ('simple': no stemming, code words stay as written).
    "search" tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, "terms")) STORED,

    CONSTRAINT "project_chunks_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "project_symbols" (
    "id" TEXT NOT NULL,
    "project_id" TEXT NOT NULL,
    "file_id" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "line" INTEGER NOT NULL,
    "end_line" INTEGER NOT NULL,
    "exported" BOOLEAN NOT NULL,
    "signature" TEXT NOT NULL,
    "terms" TEXT NOT NULL,
    -- Generated from the identifier-split terms ('simple': no stemming, code words stay as written).
    "search" tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, "terms")) STORED,

    CONSTRAINT "project_symbols_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "project_snapshots" (
    "id" TEXT NOT NULL,
    "project_id" TEXT NOT NULL,
    "files" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "project_snapshots_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "project_files_project_id_path_key" ON "project_files"("project_id", "path");

-- CreateIndex
CREATE INDEX "project_chunks_project_id_idx" ON "project_chunks"("project_id");

-- CreateIndex
CREATE INDEX "project_chunks_file_id_idx" ON "project_chunks"("file_id");

-- CreateIndex
CREATE INDEX "project_symbols_project_id_name_idx" ON "project_symbols"("project_id", "name");

-- CreateIndex
CREATE INDEX "project_symbols_file_id_idx" ON "project_symbols"("file_id");

-- CreateIndex
CREATE INDEX "project_snapshots_project_id_idx" ON "project_snapshots"("project_id");

-- AddForeignKey
ALTER TABLE "project_files" ADD CONSTRAINT "project_files_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "project_chunks" ADD CONSTRAINT "project_chunks_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "project_chunks" ADD CONSTRAINT "project_chunks_file_id_fkey" FOREIGN KEY ("file_id") REFERENCES "project_files"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "project_symbols" ADD CONSTRAINT "project_symbols_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "project_symbols" ADD CONSTRAINT "project_symbols_file_id_fkey" FOREIGN KEY ("file_id") REFERENCES "project_files"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "project_snapshots" ADD CONSTRAINT "project_snapshots_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Full-text search over chunks and symbols (hand-written: Prisma cannot declare GIN indexes on generated tsvectors).
CREATE INDEX "project_chunks_search_idx" ON "project_chunks" USING GIN ("search");
CREATE INDEX "project_symbols_search_idx" ON "project_symbols" USING GIN ("search");
