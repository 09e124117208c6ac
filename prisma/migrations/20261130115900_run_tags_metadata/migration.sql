-- Trigram indexes serve the lists' text search (ILIKE '%q%'). pg_trgm is a contrib extension
-- shipped with PostgreSQL (the embedded server and the postgres image have it) and trusted since
-- PostgreSQL 13, so the database's owner may create it without superuser rights.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- AlterTable
ALTER TABLE "agent_tasks" ADD COLUMN     "metadata" JSONB NOT NULL DEFAULT '{}',
ADD COLUMN     "tags" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- AlterTable
ALTER TABLE "orchestrations" ADD COLUMN     "metadata" JSONB NOT NULL DEFAULT '{}',
ADD COLUMN     "tags" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- CreateIndex
CREATE INDEX "agent_tasks_tags_idx" ON "agent_tasks" USING GIN ("tags");

-- CreateIndex
CREATE INDEX "agent_tasks_prompt_trgm_idx" ON "agent_tasks" USING GIN ("prompt" gin_trgm_ops);

-- CreateIndex
CREATE INDEX "orchestrations_team_id_id_idx" ON "orchestrations"("team_id", "id");

-- CreateIndex
CREATE INDEX "orchestrations_tags_idx" ON "orchestrations" USING GIN ("tags");

-- CreateIndex
CREATE INDEX "orchestrations_goal_trgm_idx" ON "orchestrations" USING GIN ("goal" gin_trgm_ops);
