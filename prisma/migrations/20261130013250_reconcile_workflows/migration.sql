-- AlterTable
ALTER TABLE "webhook_deliveries" ADD COLUMN     "error" JSONB;

-- CreateIndex
CREATE INDEX "agent_tasks_status_id_idx" ON "agent_tasks"("status", "id");

-- CreateIndex
CREATE INDEX "orchestrations_status_id_idx" ON "orchestrations"("status", "id");

-- CreateIndex
CREATE INDEX "projects_index_status_idx" ON "projects"("index_status");

-- CreateIndex
CREATE INDEX "generations_status_id_idx" ON "generations"("status", "id");

-- CreateIndex
CREATE INDEX "reviews_status_id_idx" ON "reviews"("status", "id");

-- CreateIndex
CREATE INDEX "visualizations_status_id_idx" ON "visualizations"("status", "id");
