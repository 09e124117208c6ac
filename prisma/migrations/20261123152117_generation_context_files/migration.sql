-- AlterTable
ALTER TABLE "generations" ADD COLUMN     "context_files" JSONB NOT NULL DEFAULT '[]';
