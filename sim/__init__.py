"""structhw.sim"""
