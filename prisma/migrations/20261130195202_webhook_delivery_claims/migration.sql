-- AlterTable
ALTER TABLE "webhook_deliveries" ADD COLUMN     "claimed_at" TIMESTAMPTZ(3);
