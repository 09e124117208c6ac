-- AlterTable
ALTER TABLE "reviews" ADD COLUMN     "context_files" JSONB NOT NULL DEFAULT '[]',
ADD COLUMN     "ignored_files" TEXT[] DEFAULT ARRAY[]::TEXT[];
