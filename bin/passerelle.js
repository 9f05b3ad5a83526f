#!/usr/bin/env node
import '../dist/passerelle.js'
