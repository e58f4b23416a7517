"""structhw.boards"""
