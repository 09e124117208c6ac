-- CreateEnum
CREATE TYPE "GenerationStatus" AS ENUM ('processing', 'completed', 'failed');

-- CreateTable
CREATE TABLE "generations" (
    "id" TEXT NOT NULL,
    "owner_id" TEXT NOT NULL,
    "team_id" TEXT,
    "project_id" TEXT,
    "prompt" TEXT NOT NULL,
    "language" TEXT,
    "options" JSONB NOT NULL DEFAULT '{}',
    "prompt_token_count" INTEGER NOT NULL,
    "status" "GenerationStatus" NOT NULL DEFAULT 'processing',
    "code" TEXT,
    "explanation" TEXT,
    "confidence" DOUBLE PRECISION,
    "warnings" JSONB NOT NULL DEFAULT '[]',
    "error" JSONB,
    "prompt_tokens" INTEGER NOT NULL DEFAULT 0,
    "completion_tokens" INTEGER NOT NULL DEFAULT 0,
    "attempts" INTEGER NOT NULL DEFAULT 1,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "generations_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "generations_owner_id_id_idx" ON "generations"("owner_id", "id");

-- CreateIndex
CREATE INDEX "generations_team_id_id_idx" ON "generations"("team_id", "id");

-- CreateIndex
CREATE INDEX "generations_created_at_idx" ON "generations"("created_at");

-- AddForeignKey
ALTER TABLE "generations" ADD CONSTRAINT "generations_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "generations" ADD CONSTRAINT "generations_team_id_fkey" FOREIGN KEY ("team_id") REFERENCES "teams"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "generations" ADD CONSTRAINT "generations_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE SET NULL ON UPDATE CASCADE;
