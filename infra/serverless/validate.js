'use strict';
// Resolved by serverless.yml (custom.configCheck): `npx osls package|deploy` runs
// `python -m infra.stages check` first, so a bad stage in config/stages.yml stops osls with the
// same message as `make package` (which also checks the preload model aliases: MODELS_FROM).
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

module.exports = async ({ resolveVariable }) => {
  const stage = await resolveVariable('sls:stage');
  const repo = path.resolve(__dirname, '..', '..');
  const venv = path.join(repo, '.venv', 'bin', 'python');
  const python = process.env.SNLP_PYTHON || (fs.existsSync(venv) ? venv : 'python3');
  const args = ['-m', 'infra.stages', 'check', '--stage', stage, '--models-from', process.env.MODELS_FROM || 'none'];
  try {
    execFileSync(python, args, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const detail = error.stderr ? error.stderr.toString().trim() : error.message;
    const rejected = new Error(`stage configuration rejected: ${detail}`);
    rejected.stack = rejected.message; // the message is the whole story
    throw rejected;
  }
  return 'ok';
};
