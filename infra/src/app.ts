#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { buildApp } from './build-app.js';

const app = new App();
buildApp(app);
app.synth();
