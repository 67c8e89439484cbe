from django.db import models


class Tier(models.TextChoices):
    DEVELOPMENT = "development", "Development"
    PREVIEW = "preview", "Preview"
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"


class Provider(models.TextChoices):
    VERCEL = "vercel", "Vercel"
    CONVEX = "convex", "Convex"
    RENDER = "render", "Render"
    SUPABASE = "supabase", "Supabase"
    UPSTASH = "upstash", "Upstash"
    OTHER = "other", "Other"
