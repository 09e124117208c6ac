-- AlterTable
ALTER TABLE "idempotency_records" ADD COLUMN     "result" JSONB;
