-- CreateEnum
CREATE TYPE "VisualizationStatus" AS ENUM ('processing', 'completed', 'failed');

-- CreateTable
CREATE TABLE "visualizations" (
    "id" TEXT NOT NULL,
    "owner_id" TEXT NOT NULL,
    "team_id" TEXT,
    "repository_url" TEXT NOT NULL,
    "branch" TEXT,
    "resolved_branch" TEXT,
    "analysis_depth" TEXT NOT NULL,
    "options" JSONB NOT NULL,
    "status" "VisualizationStatus" NOT NULL DEFAULT 'processing',
    "error" TEXT,
    "stats" JSONB,
    "nodes" JSONB,
    "edges" JSONB,
    "timeline" JSONB,
    "head_sha" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "visualizations_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "visualization_commits" (
    "visualization_id" TEXT NOT NULL,
    "sha" TEXT NOT NULL,
    "author" TEXT NOT NULL,
    "author_name" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "timestamp" TIMESTAMPTZ(3) NOT NULL,
    "parents" TEXT[],
    "files_changed" INTEGER NOT NULL,
    "insertions" INTEGER NOT NULL,
    "deletions" INTEGER NOT NULL,
    "branches" TEXT[],

    CONSTRAINT "visualization_commits_pkey" PRIMARY KEY ("visualization_id","sha")
);

-- CreateTable
CREATE TABLE "visualization_comments" (
    "id" TEXT NOT NULL,
    "visualization_id" TEXT NOT NULL,
    "commit_sha" TEXT NOT NULL,
    "content" TEXT NOT NULL,
    "author" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "visualization_comments_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "visualization_shares" (
    "id" TEXT NOT NULL,
    "visualization_id" TEXT NOT NULL,
    "permissions" TEXT NOT NULL,
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "visualization_shares_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "visualizations_owner_id_id_idx" ON "visualizations"("owner_id", "id");

-- CreateIndex
CREATE INDEX "visualizations_team_id_id_idx" ON "visualizations"("team_id", "id");

-- CreateIndex
CREATE INDEX "visualization_commits_visualization_id_timestamp_sha_idx" ON "visualization_commits"("visualization_id", "timestamp" DESC, "sha");

-- CreateIndex
CREATE INDEX "visualization_commits_visualization_id_author_timestamp_idx" ON "visualization_commits"("visualization_id", "author", "timestamp" DESC);

-- CreateIndex
CREATE INDEX "visualization_commits_branches_idx" ON "visualization_commits" USING GIN ("branches");

-- CreateIndex
CREATE INDEX "visualization_comments_visualization_id_commit_sha_id_idx" ON "visualization_comments"("visualization_id", "commit_sha", "id");

-- CreateIndex
CREATE INDEX "visualization_shares_visualization_id_idx" ON "visualization_shares"("visualization_id");

-- AddForeignKey
ALTER TABLE "visualizations" ADD CONSTRAINT "visualizations_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "visualizations" ADD CONSTRAINT "visualizations_team_id_fkey" FOREIGN KEY ("team_id") REFERENCES "teams"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "visualization_commits" ADD CONSTRAINT "visualization_commits_visualization_id_fkey" FOREIGN KEY ("visualization_id") REFERENCES "visualizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "visualization_comments" ADD CONSTRAINT "visualization_comments_visualization_id_fkey" FOREIGN KEY ("visualization_id") REFERENCES "visualizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "visualization_comments" ADD CONSTRAINT "visualization_comments_visualization_id_commit_sha_fkey" FOREIGN KEY ("visualization_id", "commit_sha") REFERENCES "visualization_commits"("visualization_id", "sha") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "visualization_shares" ADD CONSTRAINT "visualization_shares_visualization_id_fkey" FOREIGN KEY ("visualization_id") REFERENCES "visualizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;
