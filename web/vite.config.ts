import { defineConfig } from 'vite';

const api = process.env.API_URL ?? 'http://localhost:5000';

export default defineConfig({
  root: 'web',
  build: { outDir: 'dist', emptyOutDir: true, assetsInlineLimit: 0 },
  server: {
    proxy: { '/api': api, '/health': api, '/logs': api, '/stats': api },
  },
});
