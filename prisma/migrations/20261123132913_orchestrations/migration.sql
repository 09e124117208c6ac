-- CreateEnum
CREATE TYPE "OrchestrationStatus" AS ENUM ('in_progress', 'completed', 'partial', 'failed', 'cancelled');

-- AlterTable
ALTER TABLE "agent_tasks" ADD COLUMN     "orchestration_id" TEXT,
ADD COLUMN     "step" INTEGER;

-- CreateTable
CREATE TABLE "orchestrations" (
    "id" TEXT NOT NULL,
    "owner_id" TEXT NOT NULL,
    "team_id" TEXT,
    "goal" TEXT NOT NULL,
    "strategy" TEXT NOT NULL,
    "failure_policy" TEXT NOT NULL,
    "context" JSONB NOT NULL,
    "status" "OrchestrationStatus" NOT NULL DEFAULT 'in_progress',
    "aggregated_result" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "orchestrations_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "orchestrations_owner_id_id_idx" ON "orchestrations"("owner_id", "id");

-- CreateIndex
CREATE INDEX "agent_tasks_orchestration_id_idx" ON "agent_tasks"("orchestration_id");

-- AddForeignKey
ALTER TABLE "agent_tasks" ADD CONSTRAINT "agent_tasks_orchestration_id_fkey" FOREIGN KEY ("orchestration_id") REFERENCES "orchestrations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "orchestrations" ADD CONSTRAINT "orchestrations_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "orchestrations" ADD CONSTRAINT "orchestrations_team_id_fkey" FOREIGN KEY ("team_id") REFERENCES "teams"("id") ON DELETE CASCADE ON UPDATE CASCADE;
