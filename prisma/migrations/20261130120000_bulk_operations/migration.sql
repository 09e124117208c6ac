-- AlterTable
ALTER TABLE "agent_tasks" ADD COLUMN     "rerun_of_id" TEXT;

-- AlterTable
ALTER TABLE "orchestrations" ADD COLUMN     "rerun_of_id" TEXT;

-- CreateTable
CREATE TABLE "bulk_operations" (
    "id" TEXT NOT NULL,
    "owner_id" TEXT NOT NULL,
    "team_id" TEXT,
    "action" TEXT NOT NULL,
    "filter" JSONB NOT NULL,
    "principal" JSONB NOT NULL,
    "task_ids" TEXT[],
    "status" TEXT NOT NULL DEFAULT 'running',
    "processed" INTEGER NOT NULL DEFAULT 0,
    "succeeded" INTEGER NOT NULL DEFAULT 0,
    "skipped" INTEGER NOT NULL DEFAULT 0,
    "failed" INTEGER NOT NULL DEFAULT 0,
    "credits_charged" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "bulk_operations_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "bulk_operations_owner_id_id_idx" ON "bulk_operations"("owner_id", "id");

-- AddForeignKey
ALTER TABLE "bulk_operations" ADD CONSTRAINT "bulk_operations_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
